"""One check cycle's findings: every container judged, memory alerts and OOM kills picked out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.analysis import Assessment, Thresholds
from bot.deadline import within
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
from bot.model import ContainerCounts, ContainerMemory, ContainerRef, OomKill, Verdict
from bot.policy import assess_all
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
    # Every container checked, by verdict: `assessments` may hold only those that may
    # matter (the source counted the rest). Empty: count the assessments.
    counts: Counter[Verdict] = field(default_factory=Counter)
    # Pods per (cluster, namespace, workload), for "3 of 5 replicas".
    replicas: Mapping[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def verdicts(self) -> Counter[Verdict]:
        return self.counts or Counter(a.verdict for a in self.assessments)

    @property
    def containers_checked(self) -> int:
        return sum(self.verdicts.values())


def verdict_counts(
    assessments: Sequence[Assessment], counted: ContainerCounts | None
) -> Counter[Verdict]:
    """Every container by verdict: the judged ones as judged; those a source only counted
    (not candidates: below the thresholds, so ok unless they have no limit or no data)."""
    found = Counter(a.verdict for a in assessments)
    if counted is None:
        return found
    with_ws = [a for a in assessments if a.memory.working_set_bytes is not None]
    unlimited = sum(1 for a in with_ws if a.memory.limit_bytes is None)
    rest_unlimited = max(0, counted.without_limit - unlimited)
    found[Verdict.NO_LIMIT] += rest_unlimited
    found[Verdict.OK] += max(0, counted.with_working_set - len(with_ws) - rest_unlimited)
    found[Verdict.NO_DATA] += max(
        0, counted.without_working_set - (len(assessments) - len(with_ws))
    )
    return +found  # no zero counts


def pods_per_workload(containers: Iterable[ContainerMemory]) -> dict[tuple[str, str, str], int]:
    """Replicas per (cluster, namespace, workload), counted from the containers themselves."""
    pods: dict[tuple[str, str, str], set[str]] = {}
    for m in containers:
        if m.workload:
            pods.setdefault((m.ref.cluster, m.ref.namespace, m.workload), set()).add(m.ref.pod)
    return {key: len(names) for key, names in pods.items()}


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
    `watched` containers (open alerts) are judged whatever their figures: an alert resolves
    only on figures seen. The whole check ends within `check_timeout_seconds`."""
    with within(settings.check_timeout_seconds):
        return _check(
            source=source,
            settings=settings,
            at=at,
            kubernetes=kubernetes,
            known_kills=known_kills,
            watched=watched,
        )


def _check(
    *,
    source: MemorySource,
    settings: Settings,
    at: datetime,
    kubernetes: KubernetesSource | None,
    known_kills: frozenset[str],
    watched: frozenset[ContainerRef],
) -> CheckResult:
    base = Thresholds.from_settings(settings)
    pods = frozenset(r.pod_name for r in watched)
    snapshot = source.snapshot(at, CLUSTER_WIDE, candidates=True, watched=pods)
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
        counts=verdict_counts(assessments, snapshot.counts),
        replicas=snapshot.replicas or pods_per_workload(snapshot.containers),
        alerts=alerts,
        oom_alerts=explain_kills(new, assessments, source=source, settings=settings, at=at),
        kills=tuple(kills),
        notes=snapshot.notes + problems,
        evictions=find_evictions(snapshot, source=source, settings=settings, at=at),
        process_ooms=find_process_ooms(assessments),
    )
