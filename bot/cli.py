"""`podmem`: the command line. A thin shell: parse, wire the parts, print, exit cleanly.

Every failure a user can cause or meet (bad input, bad config, Prometheus down or garbled)
ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import __version__
from bot.check import run_check
from bot.demo import run_demo
from bot.render.json_output import check_json, report_json
from bot.render.text import render_check, render_report
from bot.report import build_report
from bot.settings import ConfigError, Settings, load_settings
from bot.sources.base import SourceError
from bot.sources.kubernetes import connect as connect_kubernetes
from bot.sources.prometheus import PrometheusSource
from bot.targets import parse_target
from bot.units import InputError, parse_duration, parse_instant

EXIT_INPUT = 2  # the user's input or configuration is wrong
EXIT_SOURCE = 3  # a data source could not answer


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

    demo = commands.add_parser("demo", help="see podmem work on simulated workloads")
    demo.add_argument("--output-dir", type=Path, default=Path("podmem-demo"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        prometheus_url=getattr(args, "prometheus_url", None),
        kubernetes=getattr(args, "kubernetes", None),
    )


def _instant(args: argparse.Namespace) -> datetime:
    return parse_instant(args.at) if getattr(args, "at", None) else datetime.now(UTC)


def _emit(args: argparse.Namespace, text: str, data: dict[str, Any]) -> None:
    if args.output == "json":
        print(json.dumps(data, indent=2))
    else:
        print(text)


def _report(args: argparse.Namespace) -> int:
    target = parse_target(args.target, args.namespace)
    at = _instant(args)
    span = parse_duration(args.range_) if args.range_ else None
    settings = _settings(args)
    source = PrometheusSource(settings)
    report = build_report(
        target,
        source=source,
        settings=settings,
        at=at,
        range_seconds=span,
        kubernetes=connect_kubernetes(settings),
    )
    _emit(args, render_report(report), report_json(report))
    return 0


def _check(args: argparse.Namespace) -> int:
    if not args.once:
        raise InputError("check runs one cycle: pass --once (the long-running bot is `podmem run`)")
    if not args.dry_run:
        raise InputError(
            "this version only prints alerts: pass --dry-run (Slack delivery is not built yet)"
        )
    at = _instant(args)
    settings = _settings(args)
    result = run_check(
        source=PrometheusSource(settings),
        settings=settings,
        at=at,
        kubernetes=connect_kubernetes(settings),
    )
    _emit(args, render_check(result), check_json(result))
    return 0


def _demo(args: argparse.Namespace) -> int:
    return run_demo(output_dir=args.output_dir)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        handlers = {"report": _report, "check": _check, "demo": _demo}
        return handlers[args.command](args)
    except (InputError, ConfigError) as error:
        print(f"podmem: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except SourceError as error:
        print(f"podmem: error: {error}", file=sys.stderr)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
