"""Charts drawn in worker processes (bot/delivery/painter.py): the same PNGs, a worker that
dies costs no chart, and workers end with the bot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.delivery.painter import Painter
from bot.model import ContainerRef, History, Series
from bot.render.memory_chart import memory_chart
from bot.units import MIB

END = datetime(2026, 11, 1, 3, tzinfo=UTC)
REF = ContainerRef("", "shop", "api-7d9f-x2", "app")
HISTORY = History(
    start=END - timedelta(hours=1),
    end=END,
    step_seconds=60.0,
    series=(
        Series(
            REF, "working_set", tuple((END.timestamp() - 60 * i, 100.0 * MIB) for i in range(60))
        ),
        Series(REF, "usage", tuple((END.timestamp() - 60 * i, 180.0 * MIB) for i in range(60))),
    ),
)


@pytest.fixture(scope="module")
def painter() -> Iterator[Painter]:
    workers = Painter(1)
    yield workers
    workers.close()


def draw(marker: int) -> bytes:
    return memory_chart(HISTORY, REF, limit_bytes=(256 + marker) * MIB, request_bytes=128 * MIB)


def die_in_a_worker(parent: int) -> bytes:
    """Kills the worker that runs it, as the kernel would for memory; drawn in the bot."""
    if os.getpid() != parent:
        os._exit(1)
    return b"drawn in the bot"


def test_a_worker_draws_what_the_bot_draws(painter: Painter) -> None:
    started = [painter.start(draw, i) for i in range(3)]  # queued, first in first out
    assert [result() for result in started] == [draw(i) for i in range(3)]


def test_a_worker_that_dies_costs_no_chart(painter: Painter) -> None:
    assert painter(die_in_a_worker, os.getpid()) == b"drawn in the bot"
    assert painter(draw, 0) == draw(0)  # by new workers


def test_without_workers_the_caller_draws() -> None:
    here = Painter(0)
    assert here(die_in_a_worker, os.getpid()) == b"drawn in the bot"


def test_workers_end_when_the_bot_is_killed(tmp_path: Path) -> None:
    """A bot killed without a shutdown (SIGKILL, a crash) leaves no worker behind."""
    script = textwrap.dedent(
        """
        import os, sys
        from bot.delivery.painter import Painter
        from tests.test_painter import draw
        painter = Painter(1)
        painter(draw, 0)
        me = os.getpid()
        workers = [
            p for p in os.listdir("/proc") if p.isdigit()
            and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1] == str(me)
        ]
        print(" ".join(workers), flush=True)
        os._exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    children = [int(pid) for pid in done.stdout.split()]
    assert children  # the worker (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 60  # a worker looks every PARENT_CHECK_SECONDS
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in children):
        time.sleep(0.2)
    alive = [p for p in children if Path(f"/proc/{p}").exists()]
    assert not alive, f"left running after the bot died: {alive}"
