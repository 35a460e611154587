"""The snapshot: what the sources saw, as frozen values. No I/O, no opinions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class ContainerRef:
    """Identity of a container. `cluster` is "" when Prometheus has no cluster label."""

    cluster: str
    namespace: str
    pod: str
    container: str

    @property
    def pod_path(self) -> str:
        prefix = f"{self.cluster}:" if self.cluster else ""
        return f"{prefix}{self.namespace}/{self.pod}"


@dataclass(frozen=True, slots=True)
class ContainerMemory:
    """One container's memory at one instant, as the sources reported it.

    Every figure is None when its series is absent: cgroup v2 nodes have no failcnt, many
    have no swap, a container with no limit has no limit row. Absence is data, not an error.
    """

    ref: ContainerRef
    working_set_bytes: int | None = None
    # Lowest working set over the for-duration window: the stateless "held for 5 min".
    working_set_floor_bytes: int | None = None
    usage_bytes: int | None = None
    rss_bytes: int | None = None
    cache_bytes: int | None = None
    swap_bytes: int | None = None
    limit_bytes: int | None = None
    request_bytes: int | None = None
    restarts: int | None = None
    # Slope of the working set over the trend window (PromQL deriv), bytes per second.
    growth_bytes_per_second: float | None = None
    limit_source: str | None = None
    node: str | None = None
    workload: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    evaluated_at: datetime
    containers: tuple[ContainerMemory, ...]


@dataclass(frozen=True, slots=True)
class Series:
    """A time series of one figure for one container: (unix seconds, value) pairs."""

    ref: ContainerRef
    metric: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class History:
    """The recent past of one pod's containers, for trends and charts."""

    start: datetime
    end: datetime
    step_seconds: float
    series: tuple[Series, ...] = field(default=())

    def of(self, ref: ContainerRef, metric: str) -> tuple[tuple[float, float], ...]:
        for item in self.series:
            if item.ref == ref and item.metric == metric:
                return item.points
        return ()


class Verdict(StrEnum):
    OK = "ok"
    CACHE_HEAVY = "cache_heavy"
    WARNING = "warning"
    CRITICAL = "critical"
    NO_LIMIT = "no_limit"
    NO_DATA = "no_data"

    @property
    def is_alert(self) -> bool:
        return self in (Verdict.WARNING, Verdict.CRITICAL)
