"""The snapshot: what the sources saw, as frozen values. No I/O, no opinions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True, order=True)
class PodName:
    cluster: str
    namespace: str
    pod: str

    def __str__(self) -> str:
        prefix = f"{self.cluster}:" if self.cluster else ""
        return f"{prefix}{self.namespace}/{self.pod}"


@dataclass(frozen=True, slots=True, order=True)
class ContainerRef:
    """Identity of a container. `cluster` is "" when Prometheus has no cluster label."""

    cluster: str
    namespace: str
    pod: str
    container: str

    @property
    def pod_name(self) -> PodName:
        return PodName(self.cluster, self.namespace, self.pod)


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
    # OOM evidence from kube-state-metrics and cAdvisor, over the OOM look-back window.
    restarts_in_window: int | None = None
    oom_events_in_window: int | None = None  # container_oom_events_total: often absent or 0
    # Pod labels as kube-state-metrics exposes them (sanitised names), for routing.
    pod_labels: tuple[tuple[str, str], ...] = ()
    # The pod opted out with the annotation podmem.io/ignore: "true".
    ignored: bool = False
    # When the current container started (cAdvisor container_start_time_seconds), unix s.
    started_at: float | None = None
    # Fraction of the last 5 min the container was fully stalled on memory (cAdvisor PSI,
    # kubelet with PSI on cgroup v2); None where not exported.
    memory_stalled_ratio: float | None = None
    # The pod's podmem.io/warning and podmem.io/critical annotations, as written (unparsed:
    # the policy decides what a bad value means).
    threshold_annotations: tuple[tuple[str, str], ...] = ()
    # The kubelet evicted the pod inside the look-back (phase Failed, reason Evicted).
    evicted: bool = False
    node_of_eviction: str | None = None
    # cAdvisor's container_oom_events_total now: with started_at, names one process kill.
    oom_events_total: int | None = None
    # The last working set seen in the look-back (an evicted pod has none now).
    last_working_set_bytes: int | None = None
    # Who to mention on a critical alert or a kill: the pod's podmem.io/owner annotation, a
    # Slack user (U…/W…) or user group (S…) ID.
    owner_id: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    evaluated_at: datetime
    containers: tuple[ContainerMemory, ...]
    # What the data could not say, in one line each (e.g. no kube-state-metrics): for the
    # user to fix, not a failure.
    notes: tuple[str, ...] = ()
    # Set when `containers` are only the candidates of a cluster-wide check: how many there
    # are in all, as Prometheus counted them.
    counts: ContainerCounts | None = None
    # Pods per (cluster, namespace, workload) of the containers' workloads; None: count them
    # from `containers`, which are all of them.
    replicas: dict[tuple[str, str, str], int] | None = None
    # Set when the containers carry only what judging them needs (a cluster-wide check's
    # candidates): the rest of their breakdown is None until asked for by their pods.
    partial: bool = False


@dataclass(frozen=True, slots=True)
class NamespaceCounts:
    """One namespace's containers, counted in Prometheus for the digest: what a channel's
    counts and "and 37 more" add up from when only its top rows are fetched."""

    containers: ContainerCounts
    above_floor: int  # working set at or above the digest's floor of the limit


@dataclass(frozen=True, slots=True)
class ContainerCounts:
    """Every container of a cluster-wide check, counted where they are (Prometheus), so the
    bot receives only the few that may matter and still knows how many it checked."""

    with_working_set: int  # judged: ok unless returned as a candidate
    without_limit: int  # of those, with no memory limit
    without_working_set: int  # a limit or request but no working set: no data


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

    def of_pod(self, namespace: str, pod: str, start: datetime, end: datetime) -> History:
        """One pod's part of a history fetched for several, cut to [start, end]."""
        first, last = start.timestamp(), end.timestamp()
        return History(
            start=start,
            end=end,
            step_seconds=self.step_seconds,
            series=tuple(
                Series(s.ref, s.metric, tuple(p for p in s.points if first <= p[0] <= last))
                for s in self.series
                if s.ref.namespace == namespace and s.ref.pod == pod
            ),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """A container's working set over a long window (days): what right-sizing stands on."""

    p95_bytes: int
    peak_bytes: int


@dataclass(frozen=True, slots=True)
class OomKill:
    """One OOM kill of one container. `restart_count` is the count the dead container had:
    it is what makes the identity stable across cycles, replicas and sources."""

    ref: ContainerRef
    restart_count: int
    finished_at: datetime | None = None
    started_at: datetime | None = None
    exit_code: int | None = 137
    workload: str | None = None
    source: str = "prometheus"
    # False when `finished_at` is the scrape that showed the restart (kube-state-metrics
    # without last_terminated_timestamp), not the kernel's moment: up to a scrape late.
    time_exact: bool = True

    @property
    def identity(self) -> tuple[str, str, str, str, int]:
        r = self.ref
        return (r.cluster, r.namespace, r.pod, r.container, self.restart_count)

    @property
    def key(self) -> str:
        """The identity as one string, as the state remembers it."""
        r = self.ref
        return f"{r.cluster}/{r.namespace}/{r.pod}/{r.container}#{self.restart_count}"


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


@dataclass(frozen=True, slots=True)
class Termination:
    """One end of one container, as kube-state-metrics' history shows it."""

    ref: ContainerRef
    restart_count: int  # the count the dead container had
    reason: str  # "OOMKilled", "Error", ... ("" when no reason series covered it)
    finished_at: datetime | None  # exact with last_terminated_timestamp; else the scrape's
    time_exact: bool = True  # False: `finished_at` is the scrape's (or None: not known)
