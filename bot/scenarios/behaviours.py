"""How a container's memory moves over time, as closed-form functions of time.

A behaviour answers "what does the cgroup hold `t` seconds after the container first
started?", including the kills and restarts in between, so any instant can be asked for in any
order (the OpenMetrics writer, the simulated source and the tests all ask differently).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

MIB = 1024 * 1024

# The kubelet's restart back-off: 10 s, doubling to 5 min, reset after 10 min of running.
BACKOFF_START_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 300.0
BACKOFF_RESET_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Sample:
    """The cgroup at one instant. Working set = RSS + active cache; usage adds inactive."""

    rss: float
    active_cache: float
    inactive_cache: float
    swap: float = 0.0

    @property
    def working_set(self) -> float:
        return self.rss + self.active_cache

    @property
    def usage(self) -> float:
        return self.working_set + self.inactive_cache

    @property
    def cache(self) -> float:
        return self.active_cache + self.inactive_cache


@dataclass(frozen=True, slots=True)
class Kill:
    """One OOM kill: seconds since first start, and the restart count the dead container had."""

    started_at: float
    finished_at: float
    restart_count: int
    exit_code: int = 137
    reason: str = "OOMKilled"


@dataclass(frozen=True, slots=True)
class ContainerState:
    sample: Sample | None  # None while waiting in CrashLoopBackOff
    restarts: int
    kills: tuple[Kill, ...]

    @property
    def last_kill(self) -> Kill | None:
        return self.kills[-1] if self.kills else None


def _wobble(t: float, amplitude: float, phase: float) -> float:
    """Deterministic GC-like noise: the same instant always gives the same value."""
    return amplitude * (0.6 * math.sin(t / 47.0 + phase) + 0.4 * math.sin(t / 13.0 + 2 * phase))


class Behaviour(ABC):
    """A container's life: runs of `run_length` seconds, each ended by an OOM kill."""

    limit: float | None = None

    def run_length(self) -> float | None:
        """Seconds from a (re)start to the OOM kill; None if it never dies."""
        return None

    @abstractmethod
    def sample_in_run(self, seconds_running: float) -> Sample:
        """The cgroup `seconds_running` after the current run began."""

    def state(self, t: float) -> ContainerState:
        run = self.run_length()
        restarts, run_start, backoff = 0, 0.0, BACKOFF_START_SECONDS
        kills: list[Kill] = []
        while run is not None and t >= run_start + run:
            kill_at = run_start + run
            kills.append(Kill(run_start, kill_at, restarts))
            restart_at = kill_at + backoff
            if t < restart_at:
                return ContainerState(None, restarts, tuple(kills))
            restarts, run_start = restarts + 1, restart_at
            backoff = (
                BACKOFF_START_SECONDS
                if run >= BACKOFF_RESET_SECONDS
                else min(BACKOFF_CAP_SECONDS, backoff * 2)
            )
        return ContainerState(self.sample_in_run(t - run_start), restarts, tuple(kills))


@dataclass(frozen=True)
class Steady(Behaviour):
    """A healthy service: flat RSS and some cache, a little noise."""

    rss: float
    cache: float = 8 * MIB
    limit: float | None = None
    phase: float = 0.0

    def sample_in_run(self, seconds_running: float) -> Sample:
        rss = self.rss + _wobble(seconds_running, 0.02 * self.rss, self.phase)
        return Sample(rss=rss, active_cache=self.cache * 0.5, inactive_cache=self.cache * 0.5)


@dataclass(frozen=True)
class Leak(Behaviour):
    """The seed's experiment 1: RSS grows at a fixed rate until the working set hits the limit.

    Working set and usage rise together 1:1; at the limit the kernel kills it; it restarts.
    """

    limit: float | None
    base_rss: float = 32 * MIB
    rate: float = MIB / 60  # bytes per second
    cache: float = 4 * MIB
    phase: float = 0.0

    def run_length(self) -> float | None:
        if self.limit is None:
            return None
        return (self.limit - self.base_rss - self.cache / 2) / self.rate

    def sample_in_run(self, seconds_running: float) -> Sample:
        rss = self.base_rss + self.rate * seconds_running
        rss += _wobble(seconds_running, 0.1 * MIB, self.phase)
        if self.limit is not None:
            rss = min(rss, self.limit - self.cache / 2)
        return Sample(rss=rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)


@dataclass(frozen=True)
class FileCacheLeak(Behaviour):
    """The seed's experiment 2: the same leak, plus a writer filling the page cache.

    Usage reaches the limit first and stays pinned there: the kernel reclaims the inactive
    file cache to make room for the growing RSS. Only when the working set itself reaches the
    limit does the OOM kill come.
    """

    limit: float
    base_rss: float = 32 * MIB
    rate: float = MIB / 60
    file_rate: float = 3 * MIB / 60
    active_cache: float = 4 * MIB
    # The kernel starts reclaiming a little below the limit, so usage sits just under it.
    reclaim_margin: float = 0.5 * MIB
    phase: float = 0.0

    def run_length(self) -> float | None:
        return (self.limit - self.base_rss - self.active_cache) / self.rate

    def sample_in_run(self, seconds_running: float) -> Sample:
        rss = self.base_rss + self.rate * seconds_running
        rss = min(rss + _wobble(seconds_running, 0.1 * MIB, self.phase), self.limit)
        room = max(0.0, self.limit - self.reclaim_margin - rss - self.active_cache)
        inactive = min(self.file_rate * seconds_running, room)
        return Sample(rss=rss, active_cache=self.active_cache, inactive_cache=inactive)
