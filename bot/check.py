"""One check cycle's findings: every container judged, memory alerts and OOM kills picked out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from bot.analysis import Assessment, Thresholds, assess
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

# A container's figures that a breakdown may fill in (where the check had none).
MEMORY_FIELDS = tuple(f.name for f in fields(ContainerMemory) if f.name != "ref")


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
    # The assessments carry only the figures judging needs (Snapshot.partial): what a
    # notice or a printout shows of a container comes from `with_breakdown`.
    partial: bool = False

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
    shown: Callable[[CheckResult], Iterable[ContainerRef]] | None = None,
) -> CheckResult:
    """`known_kills` (OomKill.key) were explained before: their stories are not fetched again.
    `watched` containers (open alerts) are judged whatever their figures: an alert resolves
    only on figures seen. `shown` names, from the judged result, the containers whose whole
    breakdown is wanted (those the caller will tell or print); the others may carry only
    what judging needs. The whole check ends within `check_timeout_seconds`."""
    with within(settings.check_timeout_seconds):
        result = _check(
            source=source,
            settings=settings,
            at=at,
            kubernetes=kubernetes,
            known_kills=known_kills,
            watched=watched,
        )
        if shown is not None and result.partial:
            result = with_breakdown(result, source=source, refs=shown(result))
        return result


def alerting(result: CheckResult) -> list[ContainerRef]:
    """The containers of the result's memory alerts: what a printout of the check shows with
    every figure (pods with news, a kill or an eviction, have theirs already)."""
    return [x.assessment.memory.ref for x in result.alerts]


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
        partial=snapshot.partial,
    )


def with_breakdown(
    result: CheckResult, *, source: MemorySource, refs: Iterable[ContainerRef]
) -> CheckResult:
    """The result with the whole breakdown of the containers `refs` names (those a notice or
    a printout shows), asked for their pods at the check's instant. Only figures the check
    did not have are filled in, and a container whose verdict would come out otherwise (its
    data changed in between) keeps the figures it was judged by: what was decided stays."""
    judged = {a.memory.ref: a for a in result.assessments}
    wanted = sorted({ref for ref in refs if ref in judged})
    if not result.partial or not wanted:
        return result
    at = result.evaluated_at
    pods = sorted({(ref.namespace, ref.pod) for ref in wanted})
    full = {m.ref: m for m in source.breakdown(at, pods)}
    better: dict[int, Assessment] = {}
    for ref in wanted:
        a, more = judged[ref], full.get(ref)
        if more is None:
            continue
        filled = {
            name: getattr(more, name)
            for name in MEMORY_FIELDS
            if getattr(a.memory, name) is None and getattr(more, name) is not None
        }
        again = assess(replace(a.memory, **filled), a.thresholds, at=at, oom_kills=a.oom_kills)
        if again.verdict is a.verdict:
            better[id(a)] = again
    if not better:
        return result

    def new(a: Assessment) -> Assessment:
        return better.get(id(a), a)

    return replace(
        result,
        assessments=tuple(new(a) for a in result.assessments),
        alerts=tuple(MemoryAlert(new(x.assessment)) for x in result.alerts),
        oom_alerts=tuple(
            replace(x, assessment=new(x.assessment)) if x.assessment else x
            for x in result.oom_alerts
        ),
        process_ooms=tuple(replace(x, assessment=new(x.assessment)) for x in result.process_ooms),
    )
