"""`podmem run`: start the long-running bot."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.commands.common import require_slack_app, settings_from
from bot.logs import setup_logging
from bot.runner import run_bot
from bot.units import InputError, parse_instant


def run_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    require_slack_app(settings)
    setup_logging(settings.log_level)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    if args.replay_from:
        # Replay: time flows from the given instant, `--replay-speed` times the normal rate.
        if not 0 < args.replay_speed <= 10_000:
            raise InputError("--replay-speed must be between 0 and 10000")
        origin, started = parse_instant(args.replay_from), time.monotonic()
        speed = args.replay_speed
        clock = lambda: origin + timedelta(seconds=(time.monotonic() - started) * speed)  # noqa: E731
    return run_bot(settings, clock=clock)
