"""Delivery only sends: from the persisted outbox to Slack, in order, until Slack accepts."""
