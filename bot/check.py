"""One check cycle's findings: every container judged, memory alerts and OOM kills picked out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.analysis import Assessment, Thresholds, seconds_to_limit
from bot.kills import (
    EvictedAlert,
    OomAlert,
    ProcessOomAlert,
    explain_kills,
    find_evictions,
    find_kills,
    find_process_ooms,
    kill_counts,
)
from bot.model import ContainerMemory, ContainerRef, OomKill
from bot.policy import assess_all, thresholds_for
from bot.promql import CLUSTER_WIDE
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.sources.kubernetes import KubernetesSource


@dataclass(frozen=True, slots=True)
class MemoryAlert:
    assessment: Assessment

    kind = "memory"

    @property
    def severity(self) -> str:
        return self.assessment.verdict.value


@dataclass(frozen=True, slots=True)
class CheckResult:
    evaluated_at: datetime
    assessments: tuple[Assessment, ...]
    alerts: tuple[MemoryAlert, ...]
    oom_alerts: tuple[OomAlert, ...] = ()  # kills not known before, each with its story
    kills: tuple[OomKill, ...] = ()  # every kill in the look-back window
    notes: tuple[str, ...] = ()  # what the data could not say (Snapshot.notes)
    evictions: tuple[EvictedAlert, ...] = ()  # pods evicted in the look-back
    process_ooms: tuple[ProcessOomAlert, ...] = ()  # worker processes killed, container alive


def may_matter(m: ContainerMemory, base: Thresholds) -> bool:
    """May this container be talked about? Then it is worth its whole breakdown. True for
    every container whose verdict can be more than ok from the lean figures, or that
    restarted, was killed or evicted."""
    t, _ = thresholds_for(m, base)
    ratio = (m.working_set_bytes or 0) / m.limit_bytes if m.limit_bytes else 0.0
    ttl = seconds_to_limit(m)
    stalled = m.memory_stalled_ratio
    return (
        ratio >= t.resolve_below
        or (ttl is not None and ttl < t.critical_time_to_limit_seconds)
        or (stalled is not None and stalled >= t.thrashing_stalled_ratio)
        or bool(m.restarts_in_window)
        or bool(m.oom_events_in_window)
        or m.evicted
    )


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
    base = Thresholds.from_settings(settings)

    def shown(m: ContainerMemory) -> bool:
        return may_matter(m, base) or m.ref in watched

    snapshot = source.snapshot(at, CLUSTER_WIDE, detail_for=shown)
    kills = find_kills(snapshot, source=source, settings=settings, at=at, kubernetes=kubernetes)
    assessments, problems = assess_all(
        snapshot.containers, base, at=at, oom_kills=kill_counts(kills)
    )
    alerts = tuple(
        MemoryAlert(a)
        for a in sorted(
            (a for a in assessments if a.verdict.is_alert and not a.memory.ignored),
            key=lambda a: (a.verdict.value != "critical", -(a.working_set_to_limit or 0.0)),
        )
    )
    new = [kill for kill in kills if kill.key not in known_kills]
    return CheckResult(
        evaluated_at=at,
        assessments=assessments,
        alerts=alerts,
        oom_alerts=explain_kills(new, assessments, source=source, settings=settings, at=at),
        kills=tuple(kills),
        notes=snapshot.notes + problems,
        evictions=find_evictions(snapshot, source=source, settings=settings, at=at),
        process_ooms=find_process_ooms(assessments),
    )
