"""`podmem run`: start the long-running bot."""

from __future__ import annotations

import argparse
from datetime import timedelta

from bot.clocks import Clock, ScaledClock, SteppedClock, WallClock
from bot.commands.common import require_slack_app, settings_from
from bot.errors import InputError
from bot.logs import setup_logging
from bot.runner import run_bot
from bot.units import parse_duration, parse_instant


def run_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    require_slack_app(settings)
    setup_logging(settings.log_level, settings.log_format)
    return run_bot(settings, clock=replay_clock(args))


def replay_clock(args: argparse.Namespace) -> Clock:
    """Real time, or a replay from `--replay-from`: scaled (`--replay-speed`) or one
    `--replay-step` of data per check."""
    if not args.replay_from:
        if args.replay_step is not None or args.replay_speed != 1.0:
            raise InputError("--replay-speed and --replay-step need --replay-from TIME")
        return WallClock()
    origin = parse_instant(args.replay_from)
    if args.replay_step is not None:
        if args.replay_speed != 1.0:
            raise InputError("choose one of --replay-speed and --replay-step")
        return SteppedClock(origin, timedelta(seconds=parse_duration(args.replay_step)))
    if not 0 < args.replay_speed <= 10_000:
        raise InputError("--replay-speed must be between 0 and 10000")
    return ScaledClock(origin, args.replay_speed)
