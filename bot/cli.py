"""`podmem`: the command line. A thin shell: parse, wire the parts, print, exit cleanly.

Every failure a user can cause or meet (bad input, bad config, Prometheus down or garbled)
ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.commands.check import check_command
from bot.commands.common import EXIT_INPUT, EXIT_SOURCE, emit, instant, settings_from
from bot.commands.digest import digest_command
from bot.commands.run import run_command
from bot.commands.silence import silence_command
from bot.demo import run_demo
from bot.render.json_output import report_json
from bot.render.text import render_report
from bot.report import build_report
from bot.settings import ConfigError
from bot.silences import SCOPES
from bot.sources.base import SourceError
from bot.sources.kubernetes import connect as connect_kubernetes
from bot.sources.prometheus import PrometheusSource
from bot.state.document import StateError
from bot.targets import parse_target
from bot.units import InputError, parse_duration


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise InputError(message)


def _common(parser: argparse.ArgumentParser, *, output: bool = True, at: bool = True) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (PODMEM_* env wins)")
    parser.add_argument("--prometheus-url", help="PromQL API base URL (PODMEM_PROMETHEUS_URL)")
    parser.add_argument(
        "--kubernetes",
        choices=["auto", "off"],
        help="off: Prometheus-only mode (PODMEM_KUBERNETES)",
    )
    if at:
        parser.add_argument(
            "--at", help="evaluate at this instant: RFC 3339 (2026-11-28T03:12:00Z) or Unix s"
        )
    if output:
        parser.add_argument("--output", choices=["text", "json"], default="text")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="podmem",
        description="The truth about Kubernetes container memory: working set, not usage.",
    )
    parser.add_argument("--version", action="version", version=f"podmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    report = commands.add_parser("report", help="one pod's memory, explained")
    report.add_argument("target", help="POD, NAMESPACE/POD or a unique prefix of a pod name")
    report.add_argument("-n", "--namespace", help="namespace of the pod")
    report.add_argument("--range", dest="range_", help="history to show, e.g. 6h (default 3h)")
    _common(report)

    check = commands.add_parser("check", help="one check cycle over every container")
    check.add_argument("--once", action="store_true", help="run one cycle and exit")
    check.add_argument("--dry-run", action="store_true", help="print alerts, send nothing")
    _common(check)

    digest = commands.add_parser("digest", help="the daily digest now (--dry-run to preview)")
    digest.add_argument("--dry-run", action="store_true", help="print it, post nothing")
    digest.add_argument("--config", type=Path, help="YAML settings file (PODMEM_* env wins)")
    digest.add_argument("--prometheus-url", help="PromQL API base URL (PODMEM_PROMETHEUS_URL)")
    digest.add_argument("--kubernetes", choices=["auto", "off"], help="off: Prometheus-only")
    digest.add_argument("--at", help="evaluate at this instant (RFC 3339 or Unix seconds)")
    digest.add_argument("--output", choices=["text", "json", "blocks"], default="text")

    run = commands.add_parser("run", help="the bot: scheduled checks, digest, health port")
    run.add_argument("--config", type=Path, help="YAML settings file (PODMEM_* env wins)")
    run.add_argument(
        "--replay-from",
        help="run against historical data: the bot's clock starts at this instant",
    )
    run.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        help="with --replay-from: how many data seconds pass per real second (drills, tests)",
    )

    for verb, text in (
        ("snooze", "silence alerts for a while (--for)"),
        ("mute", "silence alerts until unmuted (or --for)"),
        ("unmute", "remove a snooze or mute"),
    ):
        sub = commands.add_parser(verb, help=text)
        sub.add_argument("scope", choices=SCOPES, help="what to silence")
        sub.add_argument("target", help="NS/POD/CONTAINER, NS/POD, NS/KIND/NAME or NS")
        sub.add_argument("--cluster", help="only in this cluster (multi-cluster Prometheus)")
        sub.add_argument("--config", type=Path, help="YAML settings file")
        if verb != "unmute":
            sub.add_argument("--for", dest="for_", help="how long, e.g. 1h or 24h")
            sub.add_argument("--by", help="who (default: your user name)")
            sub.add_argument("--reason", help="why, shown beside the silence")
    silences = commands.add_parser("silences", help="list snoozes and mutes")
    silences.add_argument("--config", type=Path, help="YAML settings file")

    demo = commands.add_parser("demo", help="see podmem work on simulated workloads")
    demo.add_argument("--output-dir", type=Path, default=Path("podmem-demo"))
    return parser


def _report(args: argparse.Namespace) -> int:
    target = parse_target(args.target, args.namespace)
    at = instant(args)
    span = parse_duration(args.range_) if args.range_ else None
    settings = settings_from(args)
    source = PrometheusSource(settings)
    report = build_report(
        target,
        source=source,
        settings=settings,
        at=at,
        range_seconds=span,
        kubernetes=connect_kubernetes(settings),
    )
    emit(args, render_report(report), report_json(report))
    return 0


def _demo(args: argparse.Namespace) -> int:
    return run_demo(output_dir=args.output_dir)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handlers = {
            "report": _report,
            "check": check_command,
            "demo": _demo,
            "run": run_command,
            "digest": digest_command,
            "snooze": silence_command,
            "mute": silence_command,
            "unmute": silence_command,
            "silences": silence_command,
        }
        return handlers[args.command](args)
    except (InputError, ConfigError) as error:
        print(f"podmem: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except (SourceError, StateError) as error:
        print(f"podmem: error: {error}", file=sys.stderr)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `podmem demo | head`: the reader left; say nothing more.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
