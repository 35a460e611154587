"""Logging set-up: plain lines, and no secret ever written, whoever logs it."""

from __future__ import annotations

import logging
import re

# Slack tokens (xoxb-, xoxp-, xapp-, ...) and any bearer credential in a header dump.
_SECRETS = re.compile(r"\b(xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)|(Bearer\s+)[^\s'\",}]+")


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: "(redacted)" if m.group(1) else m.group(2) + "(redacted)", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Both narrate every run and every lease renewal at INFO; podmem logs what matters.
    for chatty in ("apscheduler", "leaderelection"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
