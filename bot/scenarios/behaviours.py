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
    # Fraction of time the cgroup is fully stalled on memory (PSI "full"), at this instant.
    stalled: float = 0.0

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
    kills: tuple[Kill, ...]  # every termination so far, whatever its reason
    started: float = 0.0  # seconds since first start when the current run began
    oom_events: int = 0  # processes OOM-killed inside the current container, which lived on

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

    def reason_of(self, index: int) -> str:
        """How the `index`-th termination ended (a crash loop may mix OOM kills and errors)."""
        return "OOMKilled"

    def process_ooms(self, seconds_running: float) -> int:
        """Processes OOM-killed inside the container so far in this run (it survives them)."""
        return 0

    @abstractmethod
    def sample_in_run(self, seconds_running: float) -> Sample:
        """The cgroup `seconds_running` after the current run began."""

    def state(self, t: float) -> ContainerState:
        run = self.run_length()
        restarts, run_start, backoff = 0, 0.0, BACKOFF_START_SECONDS
        kills: list[Kill] = []
        while run is not None and t >= run_start + run:
            kill_at = run_start + run
            reason = self.reason_of(len(kills))
            code = 137 if reason == "OOMKilled" else 1
            kills.append(Kill(run_start, kill_at, restarts, exit_code=code, reason=reason))
            restart_at = kill_at + backoff
            if t < restart_at:
                return ContainerState(None, restarts, tuple(kills), run_start)
            restarts, run_start = restarts + 1, restart_at
            backoff = (
                BACKOFF_START_SECONDS
                if run >= BACKOFF_RESET_SECONDS
                else min(BACKOFF_CAP_SECONDS, backoff * 2)
            )
        running = t - run_start
        return ContainerState(
            self.sample_in_run(running),
            restarts,
            tuple(kills),
            run_start,
            self.process_ooms(running),
        )


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


@dataclass(frozen=True)
class WarmUp(Behaviour):
    """A new pod filling its caches and pools: RSS rises fast, then levels off at `plateau`."""

    limit: float | None
    base_rss: float = 20 * MIB
    plateau: float = 110 * MIB
    seconds_to_settle: float = 1200.0  # time constant of the approach
    cache: float = 4 * MIB

    def sample_in_run(self, seconds_running: float) -> Sample:
        rise = 1 - math.exp(-seconds_running / self.seconds_to_settle)
        rss = self.base_rss + (self.plateau - self.base_rss) * rise
        return Sample(rss=rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)


@dataclass(frozen=True)
class HotCache(Behaviour):
    """A working set high because of active page cache (a database's hot files), flat."""

    rss: float
    active_cache: float
    inactive_cache: float = 2 * MIB
    phase: float = 0.0
    limit: float | None = None

    def sample_in_run(self, seconds_running: float) -> Sample:
        rss = self.rss + _wobble(seconds_running, 0.2 * MIB, self.phase)
        return Sample(rss=rss, active_cache=self.active_cache, inactive_cache=self.inactive_cache)


@dataclass(frozen=True)
class Thrash(Behaviour):
    """Usage pinned at the limit by cache the container keeps needing again: the working set
    looks safe while the cgroup is stalled on reclaim `stalled` of the time."""

    rss: float
    active_cache: float
    stalled: float = 0.25
    limit: float | None = None

    def sample_in_run(self, seconds_running: float) -> Sample:
        inactive = max(0.0, (self.limit or 0.0) - 0.5 * MIB - self.rss - self.active_cache)
        return Sample(
            rss=self.rss,
            active_cache=self.active_cache,
            inactive_cache=inactive,
            stalled=self.stalled,
        )


@dataclass(frozen=True)
class Killed(Behaviour):
    """Flat memory, terminated every `every` seconds for `reasons` in turn: the victim of a
    node OOM (killed far below its limit), or a crash loop mixing OOM kills and errors."""

    rss: float
    every: float
    reasons: tuple[str, ...] = ("OOMKilled",)
    cache: float = 4 * MIB
    limit: float | None = None

    def run_length(self) -> float | None:
        return self.every

    def reason_of(self, index: int) -> str:
        return self.reasons[index % len(self.reasons)]

    def sample_in_run(self, seconds_running: float) -> Sample:
        return Sample(rss=self.rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)


@dataclass(frozen=True)
class WorkerOom(Behaviour):
    """A pre-fork server (gunicorn, nginx, postgres): a worker is OOM-killed every `every`
    seconds and replaced; the container itself never restarts."""

    rss: float
    every: float
    cache: float = 4 * MIB
    limit: float | None = None

    def process_ooms(self, seconds_running: float) -> int:
        return int(seconds_running // self.every)

    def sample_in_run(self, seconds_running: float) -> Sample:
        return Sample(rss=self.rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)


@dataclass(frozen=True)
class Spiky(Behaviour):
    """Flat, with one short spike: `spike_length` seconds at `spike` RSS, `spike_at` seconds
    after every start. A peak a coarse subquery step walks past."""

    rss: float
    spike: float
    spike_at: float
    spike_length: float = 240.0
    cache: float = 4 * MIB
    limit: float | None = None

    def sample_in_run(self, seconds_running: float) -> Sample:
        inside = self.spike_at <= seconds_running < self.spike_at + self.spike_length
        rss = self.spike if inside else self.rss
        return Sample(rss=rss, active_cache=self.cache / 2, inactive_cache=self.cache / 2)
