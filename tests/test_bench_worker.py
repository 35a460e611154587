"""bench/worker.py reports the bot's own peak memory, not that of the process that started it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_peak_is_the_workers_own_not_its_parents() -> None:
    # A parent that touches 400 MB, then starts a worker that reads its own peak: Linux keeps
    # a process's high-water mark across exec, so getrusage in the child would say 400+ MB.
    parent = textwrap.dedent(
        """
        import subprocess, sys
        ballast = bytearray(400 * 1024 * 1024)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        child = "from bench.worker import peak_rss_mb; print(peak_rss_mb())"
        print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                             check=True).stdout.strip())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, check=True, cwd=ROOT
    )
    peak = float(done.stdout.strip())
    assert 10 < peak < 300, peak  # the worker's imports (the bot, matplotlib), not 400 MB
