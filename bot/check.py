"""One check cycle's findings: every container judged, memory alerts and OOM kills picked out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analysis import Assessment, Thresholds, assess, seconds_to_limit
from bot.model import ContainerMemory, ContainerRef, History, OomKill, Snapshot
from bot.oom import (
    KillContext,
    KillGroup,
    group_kills,
    kill_context,
    kills_from_api,
    kills_from_metrics,
    merge_kills,
)
from bot.promql import CLUSTER_WIDE, Scope
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.sources.kubernetes import KubernetesSource

# Killed pods whose histories share one range query (a bounded regex, a bounded answer).
HISTORY_BATCH = 50


@dataclass(frozen=True, slots=True)
class MemoryAlert:
    assessment: Assessment

    kind = "memory"

    @property
    def severity(self) -> str:
        return self.assessment.verdict.value


@dataclass(frozen=True, slots=True)
class OomAlert:
    kill: OomKill
    context: KillContext
    group: KillGroup
    assessment: Assessment | None

    kind = "oom_killed"
    severity = "critical"


@dataclass(frozen=True, slots=True)
class CheckResult:
    evaluated_at: datetime
    assessments: tuple[Assessment, ...]
    alerts: tuple[MemoryAlert, ...]
    oom_alerts: tuple[OomAlert, ...] = ()  # kills not known before, each with its story
    kills: tuple[OomKill, ...] = ()  # every kill in the look-back window
    notes: tuple[str, ...] = ()  # what the data could not say (Snapshot.notes)


def run_check(
    *,
    source: MemorySource,
    settings: Settings,
    at: datetime,
    kubernetes: KubernetesSource | None = None,
    known_kills: frozenset[str] = frozenset(),
    watched: frozenset[ContainerRef] = frozenset(),
) -> CheckResult:
    """`known_kills` (OomKill.key) were explained before: their stories are not fetched again.
    `watched` containers (open alerts) get their full breakdown whatever their figures."""
    thresholds = Thresholds.from_settings(settings)

    def shown(m: ContainerMemory) -> bool:
        """May this container be talked about this cycle? Then fetch its whole breakdown."""
        ratio = (m.working_set_bytes or 0) / m.limit_bytes if m.limit_bytes else 0.0
        ttl = seconds_to_limit(m)
        return (
            ratio >= settings.warning_ratio - settings.resolve_hysteresis_ratio
            or (ttl is not None and ttl < settings.critical_time_to_limit_seconds)
            or bool(m.restarts_in_window)
            or m.ref in watched
        )

    snapshot = source.snapshot(at, CLUSTER_WIDE, detail_for=shown)
    assessments = tuple(assess(memory, thresholds) for memory in snapshot.containers)
    alerts = tuple(
        MemoryAlert(a)
        for a in sorted(
            (a for a in assessments if a.verdict.is_alert and not a.memory.ignored),
            key=lambda a: (a.verdict.value != "critical", -(a.working_set_to_limit or 0.0)),
        )
    )
    kills = find_kills(snapshot, settings=settings, at=at, kubernetes=kubernetes)
    new = [kill for kill in kills if kill.key not in known_kills]
    return CheckResult(
        evaluated_at=at,
        assessments=assessments,
        alerts=alerts,
        oom_alerts=explain_kills(new, assessments, source=source, settings=settings, at=at),
        kills=tuple(kills),
        notes=snapshot.notes,
    )


def find_kills(
    snapshot: Snapshot,
    *,
    settings: Settings,
    at: datetime,
    kubernetes: KubernetesSource | None,
    window_seconds: float | None = None,
    pods: list[tuple[str, str]] | None = None,
) -> list[OomKill]:
    """Kills in the window. A check asks the API about the pods that restarted plus every
    Failed pod; a report passes its own `pods` and asks about nothing else."""
    window = window_seconds or settings.oom_lookback_seconds
    kills = kills_from_metrics(snapshot, at=at, window_seconds=window)
    if kubernetes is None or not kubernetes.enabled:
        return kills
    if pods is None:
        totals: dict[tuple[str, str], int] = {}
        for m in snapshot.containers:
            if (m.restarts_in_window or 0) > 0 and m.ref.cluster == settings.kubernetes_cluster:
                key = (m.ref.namespace, m.ref.pod)
                totals[key] = totals.get(key, 0) + (m.restarts or 0)
        facts = kubernetes.terminations(sorted(totals), restarts=totals)
    else:
        facts = kubernetes.terminations(pods, failed_pods=False)
    return merge_kills(kills, kills_from_api(facts, at=at, window_seconds=window))


def explain_kills(
    kills: list[OomKill],
    assessments: tuple[Assessment, ...],
    *,
    source: MemorySource,
    settings: Settings,
    at: datetime,
) -> tuple[OomAlert, ...]:
    """Each kill with its memory story: one range query per batch of killed pods."""
    by_ref = {a.memory.ref: a for a in assessments}
    span = timedelta(seconds=settings.oom_context_seconds)
    pods = sorted({(k.ref.namespace, k.ref.pod) for k in kills})
    earliest = min((k.finished_at or at for k in kills), default=at)
    histories: dict[tuple[str, str], History] = {}
    for i in range(0, len(pods), HISTORY_BATCH):
        batch = tuple(pods[i : i + HISTORY_BATCH])
        history = source.history(Scope(pods=batch), earliest - span, at)
        histories.update(dict.fromkeys(batch, history))
    out = []
    for group in group_kills(kills, window_seconds=settings.oom_group_window_seconds, at=at):
        for kill in sorted(group.kills, key=lambda k: k.identity):
            history = histories[(kill.ref.namespace, kill.ref.pod)]
            end = (kill.finished_at or at).timestamp()
            start = end - span.total_seconds()
            assessment = by_ref.get(kill.ref)

            memory = assessment.memory if assessment else None
            context = kill_context(
                kill,
                working_set=_cut(history, kill.ref, "working_set", start, end),
                rss=_cut(history, kill.ref, "rss", start, end),
                cache=_cut(history, kill.ref, "cache", start, end),
                usage=_cut(history, kill.ref, "usage", start, end),
                limit_bytes=memory.limit_bytes if memory else None,
                request_bytes=memory.request_bytes if memory else None,
            )
            out.append(OomAlert(kill, context, group, assessment))
    return tuple(out)


def _cut(
    history: History, ref: ContainerRef, figure: str, start: float, end: float
) -> tuple[tuple[float, float], ...]:
    return tuple(point for point in history.of(ref, figure) if start <= point[0] <= end)
