"""`podmem digest [--dry-run]`: the daily digest now, printed or posted."""

from __future__ import annotations

import argparse
import json

from bot.commands.common import instant, require_slack, say_notes, settings_from
from bot.cycle import run_digest
from bot.digest import build, gather
from bot.logs import setup_logging
from bot.render.digest import DigestRenderer
from bot.render.slack import fit
from bot.render.terminal import render_blocks
from bot.wiring import Parts


def digest_command(args: argparse.Namespace) -> int:
    at = instant(args)
    settings = settings_from(args)
    parts = Parts(settings)
    source, kubernetes = parts.source, parts.kubernetes
    if not args.dry_run:
        require_slack(settings)
        setup_logging(settings.log_level, settings.log_format)
        digests = run_digest(
            source=source,
            kubernetes=kubernetes,
            store=parts.store,
            sender=parts.sender,
            settings=settings,
            at=at,
        )
        print(f"Digest posted to {', '.join(d.channel for d in digests) or 'no channel'}.")
        return 0
    if settings.slack_channel is None and not settings.routes:
        # A preview needs somewhere to route to; name it for what it is.
        settings = settings.model_copy(update={"slack_channel": "(default channel)"})
    render = DigestRenderer(settings)
    gathered = gather(source=source, kubernetes=kubernetes, settings=settings, at=at)
    say_notes(gathered.notes)
    digests = build(
        gathered,
        settings=settings,
        at=at,
        previous={},
    )
    if args.output == "json":
        print(json.dumps([render.as_json(d) for d in digests], indent=2))
    elif args.output == "blocks":
        print(
            json.dumps(
                [
                    {"channel": d.channel, "parts": [p.blocks for p in fit(render.message(d))]}
                    for d in digests
                ],
                indent=2,
            )
        )
    else:
        for d in digests:
            print(f"── {d.channel} ──")
            for part in fit(render.message(d)):
                print(render_blocks(part.text, part.blocks))
            details = render.details(d)
            for part in fit(details) if details is not None else ():
                print(render_blocks(part.text, part.blocks, reply=True))
            print()
    return 0
