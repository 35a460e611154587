"""Alert state, seen kills, silences and the outbox: one versioned document, two homes."""
