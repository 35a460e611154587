"""Render only formats: the same findings as JSON, terminal text and (later) Block Kit."""
