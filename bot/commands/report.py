"""`podmem report TARGET`: one pod's memory, explained."""

from __future__ import annotations

import argparse

from bot.commands.common import emit, instant, say_notes, settings_from
from bot.render.json_output import report_json
from bot.render.text import render_report
from bot.report import build_report
from bot.targets import parse_target
from bot.units import parse_duration
from bot.wiring import build


def report_command(args: argparse.Namespace) -> int:
    target = parse_target(args.target, args.namespace, args.cluster)
    at = instant(args)
    span = parse_duration(args.range_) if args.range_ else None
    settings = settings_from(args)
    parts = build(settings)
    report = build_report(
        target,
        source=parts.source,
        settings=settings,
        at=at,
        range_seconds=span,
        kubernetes=parts.kubernetes,
    )
    say_notes(report.notes)
    emit(args, render_report(report), report_json(report))
    return 0
