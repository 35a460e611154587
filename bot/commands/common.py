"""What every command shares: settings from flags, the evaluation instant, output."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot.errors import EXIT_INPUT, EXIT_SOURCE, InputError
from bot.logs import say, setup_logging
from bot.settings import Settings, load_settings
from bot.units import parse_instant

__all__ = ["EXIT_INPUT", "EXIT_SOURCE", "emit", "instant", "say_notes", "settings_from"]


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        getattr(args, "config", None),
        prometheus_url=getattr(args, "prometheus_url", None),
        kubernetes=getattr(args, "kubernetes", None),
    )
    if settings.log_format == "json":
        # Every command's stderr is then for a log pipeline, from the first line on.
        setup_logging(settings.log_level, "json")
    return settings


def instant(args: argparse.Namespace) -> datetime:
    return parse_instant(args.at) if getattr(args, "at", None) else datetime.now(UTC)


def emit(args: argparse.Namespace, text: str, data: dict[str, Any]) -> None:
    if getattr(args, "output", "text") == "json":
        print(json.dumps(data, indent=2))
    else:
        print(text)


def say_notes(notes: tuple[str, ...]) -> None:
    """What the data could not say, on stderr: beside the answer, never mixed into JSON."""
    for note in notes:
        say(logging.WARNING, note)


def require_slack_app(settings: Settings) -> None:
    """`podmem run` also answers /podmem: Socket Mode needs the app token, HTTP the secret.
    Every missing setting is named at once, so one try tells what the bot needs."""
    missing = _missing_for_posting(settings)
    if settings.slack_mode == "socket" and settings.slack_app_token is None:
        missing.append("SLACK_APP_TOKEN (xapp-..., for Socket Mode; or PODMEM_SLACK_MODE=http)")
    if settings.slack_mode == "http" and settings.slack_signing_secret is None:
        missing.append("SLACK_SIGNING_SECRET (HTTP mode verifies Slack's requests with it)")
    if missing:
        raise InputError("podmem run needs " + "; ".join(missing))


def require_slack(settings: Settings, *, instead: str = " (or use --dry-run)") -> None:
    missing = _missing_for_posting(settings)
    if missing:
        raise InputError("posting to Slack needs " + "; ".join(missing) + instead)


def _missing_for_posting(settings: Settings) -> list[str]:
    missing = []
    if settings.slack_bot_token is None:
        missing.append("SLACK_BOT_TOKEN (xoxb-...)")
    if settings.slack_channel is None and not settings.routes:
        missing.append("PODMEM_SLACK_CHANNEL or routes")
    return missing
