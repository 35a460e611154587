"""The command handlers behind `podmem ...`: each takes parsed arguments, returns an exit code."""
