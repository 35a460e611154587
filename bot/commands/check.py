"""`podmem check --once [--dry-run]`: one cycle, printed or delivered."""

from __future__ import annotations

import argparse

from bot.check import alerting, run_check
from bot.commands.common import (
    EXIT_SOURCE,
    emit,
    instant,
    require_slack,
    say_notes,
    settings_from,
)
from bot.cycle import run_cycle
from bot.logs import setup_logging
from bot.render.json_output import check_json
from bot.render.text import render_check
from bot.wiring import build


def check_command(args: argparse.Namespace) -> int:
    at = instant(args)
    settings = settings_from(args)
    parts = build(settings)
    source, kubernetes = parts.source, parts.kubernetes
    if args.dry_run:
        result = run_check(
            source=source, settings=settings, at=at, kubernetes=kubernetes, shown=alerting
        )
        say_notes(result.notes)
        emit(args, render_check(result), check_json(result))
        return 0
    require_slack(settings)
    setup_logging(settings.log_level, settings.log_format)
    report = run_cycle(
        source=source,
        kubernetes=kubernetes,
        store=parts.store,
        sender=parts.sender,
        settings=settings,
        at=at,
        every_alert_in_full=True,
    )
    delivery = report.delivery
    if report.result:
        say_notes(report.result.notes)
    summary = (
        f"podmem check · {at:%Y-%m-%d %H:%M:%S} UTC · "
        + (f"{report.result.containers_checked} container(s) · " if report.result else "")
        + f"{delivery.sent} sent · {delivery.pending} waiting · {delivery.dead} refused"
        + (f" · degraded: {report.error}" if report.error else "")
        + (f" · Slack: {delivery.error}" if delivery.error else "")
    )
    data = {
        **(check_json(report.result) if report.result else {"evaluated_at": at.isoformat()}),
        "ok": report.ok,
        "error": report.error,
        "delivery": {
            "sent": delivery.sent,
            "pending": delivery.pending,
            "dead_letters": delivery.dead,
            "error": delivery.error,
        },
    }
    emit(args, summary, data)
    return 0 if report.ok else EXIT_SOURCE
