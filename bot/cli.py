"""`podmem`: the command line. A thin shell: parse, wire the parts, print, exit cleanly.

Every failure a user can cause or meet (bad input, bad config, Prometheus down or garbled)
ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import __version__
from bot.errors import (
    EXIT_INPUT,
    EXIT_SOURCE,
    ConfigError,
    InputError,
    SlackUnavailable,
    SourceError,
    StateError,
)
from bot.logs import quiet_libraries, say

# Each command's module, imported only when that command runs: `podmem --help` must not load
# matplotlib, the Kubernetes client and pydantic (about 1 s) to print a usage.
COMMANDS = {
    "report": "bot.commands.report:report_command",
    "check": "bot.commands.check:check_command",
    "demo": "bot.demo:demo_command",
    "run": "bot.commands.run:run_command",
    "digest": "bot.commands.digest:digest_command",
    "snooze": "bot.commands.silence:silence_command",
    "mute": "bot.commands.silence:silence_command",
    "unmute": "bot.commands.silence:silence_command",
    "silences": "bot.commands.silence:silence_command",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise InputError(message)


def _common(parser: argparse.ArgumentParser, *, output: bool = True, at: bool = True) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML settings file (PODMEM_* env wins)"
    )
    parser.add_argument(
        "--prometheus-url", metavar="URL", help="PromQL API base URL (PODMEM_PROMETHEUS_URL)"
    )
    parser.add_argument(
        "--kubernetes",
        choices=["auto", "off"],
        help="off: Prometheus-only mode (PODMEM_KUBERNETES)",
    )
    if at:
        parser.add_argument(
            "--at",
            metavar="TIME",
            help="evaluate at this instant: RFC 3339 (2026-11-28T03:12:00Z) or Unix seconds",
        )
    if output:
        parser.add_argument(
            "--output",
            choices=["text", "json"],
            default="text",
            help="text for people (default), json for scripts (the contract in the README)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="podmem",
        description="The truth about Kubernetes container memory: working set, not usage.",
    )
    parser.add_argument("--version", action="version", version=f"podmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    report = commands.add_parser("report", help="one pod's memory, explained")
    report.add_argument("target", help="POD, NAMESPACE/POD or a unique prefix of a pod name")
    report.add_argument("-n", "--namespace", metavar="NAMESPACE", help="namespace of the pod")
    report.add_argument(
        "--cluster", metavar="NAME", help="only this cluster's pods (a multi-cluster Prometheus)"
    )
    report.add_argument(
        "--range", dest="range_", metavar="DURATION", help="history to show, e.g. 6h (default 3h)"
    )
    _common(report)

    check = commands.add_parser("check", help="one check cycle over every container")
    check.add_argument(
        "--once", action="store_true", help="one cycle and exit (what check always does)"
    )
    check.add_argument("--dry-run", action="store_true", help="print alerts, send nothing")
    _common(check)

    digest = commands.add_parser("digest", help="the daily digest now (--dry-run to preview)")
    digest.add_argument("--dry-run", action="store_true", help="print it, post nothing")
    _common(digest, output=False)
    digest.add_argument(
        "--output",
        choices=["text", "json", "blocks"],
        default="text",
        help="text for people (default), json for scripts, blocks: the Slack Block Kit",
    )

    run = commands.add_parser("run", help="the bot: scheduled checks, digest, health port")
    run.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML settings file (PODMEM_* env wins)"
    )
    run.add_argument(
        "--replay-from",
        metavar="TIME",
        help="run against historical data: the bot's clock starts at this instant",
    )
    run.add_argument(
        "--replay-speed",
        metavar="N",
        type=float,
        default=1.0,
        help="with --replay-from: how many data seconds pass per real second (drills)",
    )
    run.add_argument(
        "--replay-step",
        metavar="DURATION",
        help="with --replay-from: move the clock this far (e.g. 5m) after every check, "
        "whatever the wall clock says (repeatable drills, tests)",
    )

    for verb, text in (
        ("snooze", "silence alerts for a while (--for)"),
        ("mute", "silence alerts until unmuted (or --for)"),
        ("unmute", "remove a snooze or mute"),
    ):
        sub = commands.add_parser(verb, help=text)
        sub.add_argument("scope", help="what to silence: container, pod, workload or namespace")
        sub.add_argument("target", help="NS/POD/CONTAINER, NS/POD, NS/KIND/NAME or NS")
        sub.add_argument(
            "--cluster", metavar="NAME", help="only in this cluster (multi-cluster Prometheus)"
        )
        sub.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
        if verb != "unmute":
            sub.add_argument(
                "--for", dest="for_", metavar="DURATION", help="how long, e.g. 1h or 24h"
            )
            sub.add_argument("--by", metavar="WHO", help="who (default: your user name)")
            sub.add_argument("--reason", metavar="TEXT", help="why, shown beside the silence")
    silences = commands.add_parser("silences", help="list snoozes and mutes")
    silences.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")

    demo = commands.add_parser("demo", help="see podmem work on simulated workloads")
    demo.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        default=Path("podmem-demo"),
        help="where the charts and the HTML preview go (default: ./podmem-demo)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        quiet_libraries()
        module, function = COMMANDS[args.command].split(":")
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(module), function
        )
        return command(args)
    except (InputError, ConfigError) as error:
        say(logging.ERROR, str(error), exit_code=EXIT_INPUT)
        return EXIT_INPUT
    except (SourceError, StateError, SlackUnavailable) as error:
        say(logging.ERROR, str(error), exit_code=EXIT_SOURCE)
        return EXIT_SOURCE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `podmem demo | head`: the reader left; say nothing more.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
