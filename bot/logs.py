"""Logging set-up: plain lines or JSON lines, and no secret ever written, whoever logs it."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

LogFormat = Literal["text", "json"]

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


# What every LogRecord carries; anything else on a record was given with `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the fields a call gave with
    `extra=`, and a traceback as the `exception` field (one line: JSON escapes its newlines)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
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
    if log_format == "json":
        # What would otherwise reach stderr as free text: warnings (urllib3's unverified
        # HTTPS) and a crash's traceback, in a thread or not. A log pipeline reads it all.
        logging.captureWarnings(True)
        sys.excepthook = _log_crash
        threading.excepthook = _log_thread_crash


def json_logging() -> bool:
    """Whether stderr is JSON lines now: the CLI's own notes and errors then are too."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def say(level: int, message: str, *, exit_code: int | None = None) -> None:
    """A line of the CLI's own (an error, a note) on stderr: as it is, or as a JSON log line
    when the log is JSON. An error before the settings loaded still honours
    PODMEM_LOG_FORMAT, so a bad setting does not break the pipeline reading the log."""
    if not json_logging() and os.environ.get("PODMEM_LOG_FORMAT") == "json":
        setup_logging("INFO", "json")
    if json_logging():
        fields = {} if exit_code is None else {"exit_code": exit_code}
        logging.getLogger("podmem").log(level, "%s", message, extra=fields)
    else:
        prefix = "error" if level >= logging.ERROR else "note"
        print(f"podmem: {prefix}: {message}", file=sys.stderr)


def _log_crash(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    logging.getLogger("podmem").critical("podmem crashed", exc_info=(kind, error, trace))


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    error = args.exc_value if args.exc_value is not None else args.exc_type()
    logging.getLogger("podmem").error(
        "%s crashed", name, exc_info=(args.exc_type, error, args.exc_traceback)
    )


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
