"""The failures a user can meet, each shown as one line with its own exit code.

Kept apart from the code that raises them so the command line can catch them without
importing that code (a `podmem --help` should not load matplotlib or the Kubernetes client).
"""

from __future__ import annotations

EXIT_INPUT = 2  # the user's input or configuration is wrong
EXIT_SOURCE = 3  # a data source, the state store or Slack could not answer


class InputError(ValueError):
    """A value a user gave us is malformed. The message is meant to be shown as is."""


class ConfigError(ValueError):
    """The configuration is unusable. The message names the key and is shown as is."""


class SourceError(RuntimeError):
    """A source could not answer. The message is for humans and names what to check."""


class StateError(RuntimeError):
    """The state store cannot be used; the message says why."""


class SlackUnavailable(RuntimeError):
    """Slack cannot be used at all (a refused token, no route to it). Shown as is."""
