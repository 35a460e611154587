"""Logging set-up: plain lines, and no secret ever written, whoever logs it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

# Slack tokens (xoxb-, xoxp-, xapp-, ...) and any bearer credential in a header dump.
_SECRETS = re.compile(r"\b(xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)|(Bearer\s+)[^\s'\",}]+")


# A response_url is a capability: whoever holds it can answer as podmem for 30 min. Slack's,
# as they are, JSON-escaped (https:\/\/) or URL-encoded (https%3A%2F%2F).
_CAPABILITY_URLS = re.compile(
    r"(https(?::|%3A)(?:\\?/|%2F){2}hooks\.slack(?:-gov)?\.com(?:\\?/|%2F))[^\s'\",}&]+",
    re.IGNORECASE,
)
# slack_sdk's webhook client only ever POSTs to response_urls and incoming webhooks, both
# capabilities, and logs each URL (DEBUG; retries at INFO): any URL of its lines, any host.
_WEBHOOK_LOGGER = "slack_sdk.webhook"
_ANY_URL = re.compile(r"https?://[^\s'\",}]+")


def redact(text: str) -> str:
    text = _CAPABILITY_URLS.sub(r"\1(redacted)", text)
    return _SECRETS.sub(lambda m: "(redacted)" if m.group(1) else m.group(2) + "(redacted)", text)


# A log line holds this much of a message: a request body logged by a library is not a
# 100 kB line.
MAX_MESSAGE_CHARS = 2000


class RedactingFilter(logging.Filter):
    """No secret, no forged line (a newline from a request body would start one), no
    unbounded line: every message is redacted, escaped and cut before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.name.startswith(_WEBHOOK_LOGGER):
            cleaned = _ANY_URL.sub("(response_url redacted)", cleaned)
        cleaned = cleaned.replace("\r", "\\r").replace("\n", "\\n")
        if len(cleaned) > MAX_MESSAGE_CHARS:
            cleaned = f"{cleaned[:MAX_MESSAGE_CHARS]}… ({len(cleaned)} characters)"
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class _KnownNoise(logging.Filter):
    """Bolt warns that its token is unused whenever SLACK_BOT_TOKEN is set and a client is
    given, which is exactly how podmem wires it (one client with our base URL and retries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    handler.addFilter(_KnownNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Both narrate every run and every lease renewal at INFO; podmem logs what matters.
    for chatty in ("apscheduler", "leaderelection"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    quiet_libraries(root.level)


def quiet_libraries(level: int = logging.INFO) -> None:
    """urllib3 warns "Retrying (Retry(total=0, ...))" with the URL-encoded PromQL before
    podmem has said what failed; podmem's own one line says it better. Shown at DEBUG."""
    logging.getLogger("urllib3").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.ERROR
    )


@contextmanager
def silenced(*names: str) -> Iterator[None]:
    """Libraries' own error lines hushed while podmem says the same failure in one line."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
