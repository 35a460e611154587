"""How long `podmem --help` takes, against the bare interpreter's start in the same run.

A user's first command is `podmem --help`; loading matplotlib, the Kubernetes client and
pydantic before argparse prints a usage made it take about a second. Target: under 0.3 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python_s": [sys.executable, "-c", "pass"],  # the floor: an interpreter that does nothing
    "help_s": [sys.executable, "-m", "bot.cli", "--help"],
    "report_help_s": [sys.executable, "-m", "bot.cli", "report", "--help"],
}
TARGET_HELP_S = 0.3


def _once(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def measure_startup(repeats: int = 15) -> dict[str, Any]:
    # Interleaved, so a burst of load on the machine hits every command alike.
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):
        for name, command in COMMANDS.items():
            times[name].append(_once(command))
    found: dict[str, Any] = {n: round(statistics.median(t), 3) for n, t in times.items()}
    found["help_to_python"] = round(found["help_s"] / found["python_s"], 2)
    found["repeats"] = repeats
    return found
