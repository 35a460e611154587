"""A source that reads a simulated cluster directly, for `podmem demo` (no Prometheus needed).

It answers the same questions the PromQL does, with the same semantics: the last scrape
within Prometheus's 5-minute lookback, min over the for-duration, least-squares slope over
the trend window (what `deriv` computes), kube-state-metrics limits and requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.model import (
    ContainerMemory,
    ContainerRef,
    History,
    PodName,
    Profile,
    Series,
    Snapshot,
    Termination,
)
from bot.promql import Scope, range_step_seconds
from bot.scenarios import ClusterSpec, ContainerSpec, PodSpec, Sample
from bot.settings import Settings
from bot.sources.base import NodeMemory

LOOKBACK_SECONDS = 300.0


def _in_scope(pod: PodSpec, scope: Scope) -> bool:
    return scope.covers(pod.namespace, pod.name)


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


class SimulatedSource:
    def __init__(self, cluster: ClusterSpec, settings: Settings) -> None:
        self.cluster, self.settings = cluster, settings
        self.step = cluster.scrape_interval_seconds

    def _scrapes(self, start: float, end: float) -> list[float]:
        """Scrape instants (seconds since the cluster start) in (start, end]."""
        first = math.floor(start / self.step) + 1
        last = math.floor(end / self.step)
        return [i * self.step for i in range(max(0, first), last + 1)]

    def _sample(self, pod: PodSpec, container: ContainerSpec, t: float) -> Sample | None:
        since_start = t - pod.started_after
        if since_start < 0:
            return None
        return container.behaviour.state(since_start).sample

    def _series(
        self, pod: PodSpec, container: ContainerSpec, start: float, end: float
    ) -> list[tuple[float, Sample]]:
        found = []
        for t in self._scrapes(start, end):
            sample = self._sample(pod, container, t)
            if sample is not None:
                found.append((t, sample))
        return found

    def snapshot(
        self,
        at: datetime,
        scope: Scope,
        *,
        oom_window_seconds: float | None = None,
        candidates: bool = False,
        watched: frozenset[PodName] = frozenset(),
        events: bool = True,
    ) -> Snapshot:
        """Everything, in detail, even for a check: simulated figures cost nothing to fetch
        (no counts: the containers are all of them)."""
        now = (at - self.cluster.start).total_seconds()
        s = self.settings
        oom_window = oom_window_seconds or s.oom_lookback_seconds
        rows = []
        for pod in self.cluster.pods:
            if not _in_scope(pod, scope) or now < pod.started_after:
                continue
            for container in pod.containers:
                recent = self._series(pod, container, now - LOOKBACK_SECONDS, now)
                window = [(t, x.working_set) for t, x in recent if t > now - s.for_duration_seconds]
                trend = [
                    (t, x.working_set)
                    for t, x in self._series(pod, container, now - s.trend_window_seconds, now)
                ]
                last = recent[-1][1] if recent else None
                state = container.behaviour.state(now - pod.started_after)
                earlier = container.behaviour.state(
                    now - pod.started_after - s.trend_window_seconds
                )
                restarted = state.restarts != earlier.restarts
                before_window = container.behaviour.state(now - pod.started_after - oom_window)
                rows.append(
                    ContainerMemory(
                        ref=ContainerRef(pod.cluster, pod.namespace, pod.name, container.name),
                        working_set_bytes=None if last is None else round(last.working_set),
                        working_set_floor_bytes=round(min(v for _, v in window))
                        if window
                        else None,
                        usage_bytes=None if last is None else round(last.usage),
                        rss_bytes=None if last is None else round(last.rss),
                        cache_bytes=None if last is None else round(last.cache),
                        swap_bytes=None if last is None else round(last.swap),
                        limit_bytes=None if container.limit is None else round(container.limit),
                        request_bytes=None
                        if container.request is None
                        else round(container.request),
                        restarts=state.restarts,
                        growth_bytes_per_second=None if restarted else _slope(trend),
                        limit_source="simulated" if container.limit is not None else None,
                        node=pod.node,
                        workload=f"deployment/{pod.workload_name}",
                        restarts_in_window=state.restarts - before_window.restarts,
                    )
                )
        return Snapshot(evaluated_at=at, containers=tuple(rows))

    def closest_to_limit(self, at: datetime, scope: Scope, count: int) -> list[ContainerRef]:
        limited = [
            m for m in self.snapshot(at, scope).containers if m.limit_bytes and m.working_set_bytes
        ]
        limited.sort(key=lambda m: -(m.working_set_bytes or 0) / (m.limit_bytes or 1))
        return [m.ref for m in limited[:count]]

    def breakdown(
        self, at: datetime, pods: Sequence[tuple[str, str]]
    ) -> tuple[ContainerMemory, ...]:
        return self.snapshot(at, Scope(pods=tuple(pods))).containers

    def pods(self, at: datetime, scope: Scope) -> list[PodName]:
        now = (at - self.cluster.start).total_seconds()
        return sorted(
            PodName(pod.cluster, pod.namespace, pod.name)
            for pod in self.cluster.pods
            if _in_scope(pod, scope) and now >= pod.started_after
        )

    def profiles(
        self, at: datetime, scope: Scope, *, window_seconds: float, step_seconds: float
    ) -> dict[ContainerRef, Profile]:
        now = (at - self.cluster.start).total_seconds()
        found: dict[ContainerRef, Profile] = {}
        for pod in self.cluster.pods:
            if not _in_scope(pod, scope):
                continue
            for container in pod.containers:
                values = sorted(
                    s.working_set
                    for _, s in self._series(pod, container, now - window_seconds, now)
                )
                if values:
                    ref = ContainerRef(pod.cluster, pod.namespace, pod.name, container.name)
                    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
                    found[ref] = Profile(p95_bytes=round(p95), peak_bytes=round(values[-1]))
        return found

    def terminations(self, scope: Scope, start: datetime, end: datetime) -> list[Termination]:
        origin = self.cluster.start
        found = []
        for pod in self.cluster.pods:
            if not _in_scope(pod, scope):
                continue
            first = origin.timestamp() + pod.started_after
            state_at = (end - origin).total_seconds() - pod.started_after
            for container in pod.containers:
                ref = ContainerRef(pod.cluster, pod.namespace, pod.name, container.name)
                for kill in container.behaviour.state(state_at).kills:
                    when = datetime.fromtimestamp(first + kill.finished_at, tz=UTC)
                    if start <= when <= end:
                        found.append(Termination(ref, kill.restart_count, kill.reason, when))
        return found

    def node_memory(
        self, nodes: list[str], start: datetime, end: datetime
    ) -> dict[str, NodeMemory]:
        base = self.cluster.start.timestamp()
        found = {}
        for spell in self.cluster.node_pressure:
            if spell.node in nodes:
                found[spell.node] = NodeMemory(
                    pressure=((base + spell.start, 1.0), (base + spell.end, 0.0))
                )
        return found

    def node_top_pods(self, node: str, at: float, count: int) -> tuple[tuple[str, int], ...]:
        when = datetime.fromtimestamp(at, tz=UTC)
        snapshot = self.snapshot(when, Scope())
        on_node = {p.name for p in self.cluster.pods if p.node == node}
        totals: dict[str, int] = {}
        for m in snapshot.containers:
            if m.ref.pod in on_node and m.working_set_bytes:
                name = f"{m.ref.namespace}/{m.ref.pod}"
                totals[name] = totals.get(name, 0) + m.working_set_bytes
        return tuple(sorted(totals.items(), key=lambda item: -item[1])[:count])

    def history(self, scope: Scope, start: datetime, end: datetime) -> History:
        step = range_step_seconds((end - start).total_seconds(), minimum=self.step)
        origin = self.cluster.start
        begin, finish = (start - origin).total_seconds(), (end - origin).total_seconds()
        series = []
        for pod in self.cluster.pods:
            if not _in_scope(pod, scope):
                continue
            for container in pod.containers:
                ref = ContainerRef(pod.cluster, pod.namespace, pod.name, container.name)
                points = [
                    (origin.timestamp() + t, sample)
                    for t, sample in self._series(pod, container, begin - step, finish)
                ][:: max(1, round(step / self.step))]
                for figure in ("working_set", "usage", "rss", "cache", "swap"):
                    series.append(
                        Series(
                            ref, figure, tuple((t, float(getattr(x, figure))) for t, x in points)
                        )
                    )
        return History(start=start, end=end, step_seconds=step, series=tuple(series))
