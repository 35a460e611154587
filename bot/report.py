"""The on-demand report: one pod's containers, their verdicts and their recent history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analysis import Assessment, Thresholds
from bot.kills import find_kills, kill_counts
from bot.model import History, OomKill, PodName
from bot.policy import assess_all
from bot.promql import Scope
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.sources.kubernetes import KubernetesSource
from bot.targets import Target, resolve


@dataclass(frozen=True, slots=True)
class ContainerReport:
    assessment: Assessment
    oom_kills: tuple[OomKill, ...]
    # Working set over the report range: (unix seconds, bytes), for the trend line.
    working_set_history: tuple[tuple[float, float], ...]

    @property
    def peak_working_set_bytes(self) -> int | None:
        if not self.working_set_history:
            return None
        return round(max(value for _, value in self.working_set_history))


@dataclass(frozen=True, slots=True)
class Report:
    evaluated_at: datetime
    range_seconds: float
    pods: tuple[PodName, ...]
    containers: tuple[ContainerReport, ...]
    notes: tuple[str, ...] = ()  # what the data could not say (Snapshot.notes)
    # Every figure of the pod over the range: what its chart draws, not asked twice.
    history: History | None = None


def build_report(
    target: Target,
    *,
    source: MemorySource,
    settings: Settings,
    at: datetime,
    range_seconds: float | None = None,
    kubernetes: KubernetesSource | None = None,
    visible: Callable[[str], bool] = lambda namespace: True,
) -> Report:
    """Resolve the target, then fetch and judge only that pod's containers.

    `visible` hides namespaces the asker may not see: they resolve as if they did not exist.
    """
    pods = resolve(
        target, lambda scope: [p for p in source.pods(at, scope) if visible(p.namespace)]
    )
    span = range_seconds or settings.report_range_seconds
    containers: list[ContainerReport] = []
    # The same namespace/pod in two clusters resolves to two PodNames; one scoped query
    # answers both, and the rows keep their own cluster label.
    scope = Scope(namespace=pods[0].namespace, pod=pods[0].pod)
    snapshot = source.snapshot(at, scope, oom_window_seconds=span)
    kills = find_kills(
        snapshot,
        source=source,
        settings=settings,
        at=at,
        kubernetes=kubernetes,
        window_seconds=span,
        pods=[
            (pod.namespace, pod.pod) for pod in pods if pod.cluster == settings.kubernetes_cluster
        ],
        scope=scope,
    )
    history = source.history(scope, at - timedelta(seconds=span), at)
    wanted = set(pods)
    assessments, problems = assess_all(
        (m for m in snapshot.containers if m.ref.pod_name in wanted),
        Thresholds.from_settings(settings),
        at=at,
        oom_kills=kill_counts(kills),
    )
    for a in assessments:
        ref = a.memory.ref
        containers.append(
            ContainerReport(
                a,
                tuple(kill for kill in kills if kill.ref == ref),
                history.of(ref, "working_set"),
            )
        )
    return Report(
        evaluated_at=at,
        range_seconds=span,
        pods=tuple(pods),
        containers=tuple(containers),
        notes=snapshot.notes + problems,
        history=history,
    )
