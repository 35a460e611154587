"""The Slack app: `/podmem`, buttons, and the Bolt wiring for Socket Mode and HTTP mode."""
