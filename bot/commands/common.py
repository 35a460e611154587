"""What every command shares: settings from flags, the evaluation instant, output."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from bot.settings import Settings, load_settings
from bot.units import InputError, parse_instant

EXIT_INPUT = 2  # the user's input or configuration is wrong
EXIT_SOURCE = 3  # a data source or the state store could not answer


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        prometheus_url=getattr(args, "prometheus_url", None),
        kubernetes=getattr(args, "kubernetes", None),
    )


def instant(args: argparse.Namespace) -> datetime:
    return parse_instant(args.at) if getattr(args, "at", None) else datetime.now(UTC)


def emit(args: argparse.Namespace, text: str, data: dict[str, Any]) -> None:
    if getattr(args, "output", "text") == "json":
        print(json.dumps(data, indent=2))
    else:
        print(text)


def require_slack_app(settings: Settings) -> None:
    """`podmem run` also answers /podmem: Socket Mode needs the app token, HTTP the secret."""
    require_slack(settings, instead="")
    if settings.slack_mode == "socket" and settings.slack_app_token is None:
        raise InputError(
            "Socket Mode needs SLACK_APP_TOKEN (xapp-...), or set PODMEM_SLACK_MODE=http"
        )
    if settings.slack_mode == "http" and settings.slack_signing_secret is None:
        raise InputError("HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests")


def require_slack(settings: Settings, *, instead: str = " (or use --dry-run)") -> None:
    if settings.slack_bot_token is None:
        raise InputError(f"posting to Slack needs SLACK_BOT_TOKEN{instead}")
    if settings.slack_channel is None and not settings.routes:
        raise InputError(f"posting to Slack needs PODMEM_SLACK_CHANNEL or routes{instead}")
