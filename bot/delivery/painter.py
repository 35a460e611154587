"""Where charts are drawn: beside the bot, in a small pool of worker processes.

A chart is ~70 ms of matplotlib, all of it holding the GIL: drawn on the threads that answer
Slack, 50 `/podmem` reports at once take turns on one core and every report waits for
nearly all of them. In worker processes the charts use the other cores, are drawn in the
order they were asked for (the pool's queue is first in, first out), and the bot's own
threads stay free to fetch data and talk to Slack. With no workers the caller draws.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from typing import ParamSpec

from bot.model import ContainerRef, History
from bot.render.memory_chart import memory_chart

log = logging.getLogger(__name__)
P = ParamSpec("P")


# New pools after workers died, before charts are drawn in the bot for good.
RESTARTS = 3
# How often a worker looks whether the bot that started it is still there, seconds.
PARENT_CHECK_SECONDS = 1.0


def _follow(parent: int) -> None:
    """A worker's start: it ends when the bot does. Its task queue is a pipe it holds both
    ends of, so a bot killed without shutting the pool down (SIGKILL, a crash) would leave
    it waiting forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _warm() -> bool:
    """A worker's first chart loads matplotlib and its fonts (~1 s): done once at start,
    not inside somebody's report."""
    end = datetime(2026, 1, 1, tzinfo=UTC)
    empty = History(start=end - timedelta(hours=1), end=end, step_seconds=60.0)
    memory_chart(empty, ContainerRef("", "warm", "up", "app"), limit_bytes=None, request_bytes=None)
    return True


class Painter:
    """Runs drawing functions (module-level, with picklable arguments) in `processes`
    worker processes, or in the caller when `processes` is 0."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._restarts = 0
        if processes:
            self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the bot has threads (Bolt's, the scheduler's), and a forked child
        # inherits their locks in whatever state they were.
        pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_follow,
            initargs=(os.getpid(),),
        )
        for _ in range(self.processes):  # spawned on demand: ask each to start and warm up
            pool.submit(_warm)
        return pool

    def __call__(self, draw: Callable[P, bytes], *args: P.args, **kwargs: P.kwargs) -> bytes:
        return self.start(draw, *args, **kwargs)()

    def start(
        self, draw: Callable[P, bytes], *args: P.args, **kwargs: P.kwargs
    ) -> Callable[[], bytes]:
        """Begin drawing; the returned function waits for the PNG. Without workers the
        drawing is done here and now."""
        with self._lock:
            pool = self._pool
        if pool is None:
            png = draw(*args, **kwargs)
            return lambda: png
        try:
            future: Future[bytes] = pool.submit(draw, *args, **kwargs)
        except BrokenProcessPool:
            self._restart(pool)
            png = draw(*args, **kwargs)
            return lambda: png

        def result() -> bytes:
            try:
                return future.result()
            except BrokenProcessPool:
                self._restart(pool)
                return draw(*args, **kwargs)

        return result

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        """A worker died (killed for memory?): the chart at hand is drawn by the caller, the
        next ones by new workers; after RESTARTS of those, by the bot's own threads (workers
        that cannot start would otherwise be started again for every chart)."""
        with self._lock:
            if self._pool is not broken:
                return  # another caller saw it first
            self._restarts += 1
            if self._restarts > RESTARTS:
                log.error("chart workers keep dying: charts are drawn in the bot from now on")
                self._pool = None
                return
            log.warning("a chart worker process died: drawing in the bot, starting new ones")
            self._pool = self._start()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
