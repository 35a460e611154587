"""`podmem snooze|mute|unmute|silences`: silences written to the same state the bot reads."""

from __future__ import annotations

import argparse
import getpass
import time
from datetime import UTC, datetime

from bot.commands.common import settings_from
from bot.errors import InputError
from bot.silences import add_silence, parse_silence_target, remove_silence
from bot.state.document import State
from bot.state.open import describe_store, open_store
from bot.state.store import transact
from bot.units import format_duration, parse_duration


def silence_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    where = describe_store(settings)
    listing = args.command == "silences"
    if listing and settings.state_backend == "sqlite" and not settings.state_path.exists():
        # A listing must not create an empty state where the user happens to stand.
        print(f"No snoozes or mutes: no {where} yet (set state_path to the bot's).")
        return 0
    store = open_store(settings)
    now = time.time()
    if args.command == "silences":
        state, _ = store.read()
        print(f"Silences in the {where}:")
        if not state.silences:
            print("No snoozes or mutes.")
        for s in state.silences:
            left = "forever" if s.until is None else f"{format_duration(s.until - now)} left"
            target = "/".join(x for x in (s.namespace, s.name) if x)
            print(f"{s.scope:<10} {target:<50} {left:<16} by {s.created_by}  {s.reason}")
        return 0
    scope, namespace, name = parse_silence_target(args.scope, args.target)
    cluster = args.cluster or ""
    if args.command == "unmute":

        def drop(state: State) -> int:
            return remove_silence(
                state, scope=scope, namespace=namespace, name=name, cluster=cluster
            )

        removed = transact(store, drop)
        if not removed:
            raise InputError(f"nothing silences {scope} {args.target}")
        print(f"Unmuted {scope} {args.target} (in the {where}).")
        return 0
    duration = parse_duration(args.for_) if args.for_ else None
    if args.command == "snooze" and duration is None:
        raise InputError("snooze for how long? e.g. --for 1h (or use mute)")
    until = now + duration if duration else None
    by = args.by or getpass.getuser()

    def add(state: State) -> None:
        add_silence(
            state,
            scope=scope,
            namespace=namespace,
            name=name,
            cluster=cluster,
            until=until,
            by=by,
            reason=args.reason or "",
            at=now,
        )

    transact(store, add)
    when = (
        f"until {datetime.fromtimestamp(until, tz=UTC):%Y-%m-%d %H:%M} UTC"
        if until
        else "until unmuted"
    )
    verb = "Snoozed" if args.command == "snooze" else "Muted"
    print(f"{verb} {scope} {args.target} {when} (in the {where}).")
    return 0
