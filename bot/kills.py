"""Memory kills, found and explained: used alike by the check, reports and the digest.

Four kinds, told apart because each needs a different fix:
- an OOM kill at the container's own limit (`cause="limit"`): raise the limit or fix a leak;
- an OOM kill by the node (`cause="node"`): killed below its limit, or without one, while its
  node was short of memory. A bigger limit cannot help; the node's largest users can;
- an eviction under node memory pressure: the kubelet, not the kernel, chose the pod;
- a process OOM-killed inside a container that lives on (a pre-fork worker).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analysis import Assessment
from bot.model import (
    ContainerMemory,
    ContainerRef,
    History,
    OomKill,
    PodName,
    Snapshot,
    Termination,
)
from bot.oom import (
    KillContext,
    KillGroup,
    group_kills,
    kill_context,
    kills_from_api,
    merge_kills,
)
from bot.promql import CLUSTER_WIDE, HISTORY_BATCH, Scope
from bot.settings import Settings
from bot.sources.base import MemorySource, NodeMemory
from bot.sources.kubernetes import KubernetesSource

# A kill whose working set peaked below this share of the limit did not come from the limit,
# if its node was short of memory then.
LIMIT_KILL_MIN_PEAK_RATIO = 0.9
# How much of the node must be left for it not to count as short (node-exporter).
NODE_SHORT_AVAILABLE_RATIO = 0.05
# The node's largest users named in a node kill's message.
NODE_TOP_PODS = 5


@dataclass(frozen=True, slots=True)
class OomAlert:
    kill: OomKill
    context: KillContext
    group: KillGroup
    assessment: Assessment | None
    cause: str = "limit"  # "limit" or "node"
    node: str | None = None
    # The node's largest memory users when it was short: (namespace/pod, working set bytes).
    node_top: tuple[tuple[str, int], ...] = ()

    kind = "oom_killed"
    severity = "critical"


def kill_counts(kills: Iterable[OomKill]) -> dict[ContainerRef, int]:
    counts: dict[ContainerRef, int] = {}
    for kill in kills:
        counts[kill.ref] = counts.get(kill.ref, 0) + 1
    return counts


def find_kills(
    snapshot: Snapshot,
    *,
    source: MemorySource,
    settings: Settings,
    at: datetime,
    kubernetes: KubernetesSource | None,
    window_seconds: float | None = None,
    pods: list[tuple[str, str]] | None = None,
    scope: Scope = CLUSTER_WIDE,
    terminations: list[Termination] | None = None,
) -> list[OomKill]:
    """Every OOM kill in the window, each with its time where kube-state-metrics kept it.

    Only containers that restarted in the window are looked at, through the history of their
    restart count and last termination (one range query, whatever their number): a kill stays
    a kill after a later restart of another reason replaced the sticky reason. A check also asks
    the API about those pods plus every Failed pod; a report asks about its own `pods`.
    `terminations` already fetched for the window (the digest asks alongside its snapshot)
    save that query."""
    window = window_seconds or settings.oom_lookback_seconds
    start = at - timedelta(seconds=window)
    workloads = {m.ref: m.workload for m in snapshot.containers}
    restarted = sorted(
        {(m.ref.namespace, m.ref.pod) for m in snapshot.containers if m.restarts_in_window}
    )
    if terminations is None and restarted and scope == CLUSTER_WIDE:
        # Asked of the pods the snapshot saw restart: a range query over the whole cluster
        # selects every container's series at each step before its filter (10 s of a
        # 100 000-container check, for a few hundred pods).
        scope = Scope(pods=tuple(restarted))
    if terminations is None:
        # Filtered server-side, too, to the containers that restarted in the window.
        terminations = source.terminations(scope, start, at) if restarted else []
    kills = [
        OomKill(
            t.ref,
            t.restart_count,
            t.finished_at,
            workload=workloads.get(t.ref),
            time_exact=t.time_exact and t.finished_at is not None,
        )
        for t in terminations
        if t.reason == "OOMKilled" and t.restart_count >= 0
    ]
    if kubernetes is None or not kubernetes.enabled:
        return merge_kills(kills)
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
    """Each kill with its memory story and its cause: one range query per batch of killed
    pods, one for their nodes, and one per node that was short (its largest users)."""
    by_ref = {a.memory.ref: a for a in assessments}
    span = timedelta(seconds=settings.oom_context_seconds)
    pods = sorted({(k.ref.namespace, k.ref.pod) for k in kills})
    earliest = min((k.finished_at or at for k in kills), default=at)
    histories: dict[tuple[str, str], History] = {}
    for i in range(0, len(pods), HISTORY_BATCH):
        batch = tuple(pods[i : i + HISTORY_BATCH])
        history = source.history(Scope(pods=batch), earliest - span, at)
        histories.update(dict.fromkeys(batch, history))
    nodes = sorted({n for k in kills if (a := by_ref.get(k.ref)) and (n := a.memory.node)})
    node_memory = source.node_memory(nodes, earliest - span, at) if nodes else {}
    tops: dict[tuple[str, float], tuple[tuple[str, int], ...]] = {}
    out = []
    for group in group_kills(kills, window_seconds=settings.oom_group_window_seconds, at=at):
        for kill in sorted(group.kills, key=lambda k: k.identity):
            history = histories[(kill.ref.namespace, kill.ref.pod)]
            end = (kill.finished_at or at).timestamp()
            start = end - span.total_seconds()
            assessment = by_ref.get(kill.ref)
            memory = assessment.memory if assessment else None
            node = memory.node if memory else None
            working_set = _cut(history, kill.ref, "working_set", start, end)
            limit = memory.limit_bytes if memory else None
            short = node is not None and _short(node_memory.get(node), end)
            cause = _cause(limit, working_set, short=short)
            context = kill_context(
                kill,
                working_set=working_set,
                rss=_cut(history, kill.ref, "rss", start, end),
                cache=_cut(history, kill.ref, "cache", start, end),
                usage=_cut(history, kill.ref, "usage", start, end),
                limit_bytes=limit,
                request_bytes=memory.request_bytes if memory else None,
                by_node=cause == "node",
            )
            top: tuple[tuple[str, int], ...] = ()
            if cause == "node" and node is not None:
                when = round(end / 60) * 60.0  # kills a minute apart share one question
                if (node, when) not in tops:
                    tops[(node, when)] = source.node_top_pods(node, when, NODE_TOP_PODS)
                top = tops[(node, when)]
            out.append(OomAlert(kill, context, group, assessment, cause, node, top))
    return tuple(out)


def _cause(limit: int | None, working_set: tuple[tuple[float, float], ...], *, short: bool) -> str:
    if not limit:
        return "node"  # no limit to reach: only the node can have killed it
    peak = max((v for _, v in working_set), default=None)
    if short and (peak is None or peak < LIMIT_KILL_MIN_PEAK_RATIO * limit):
        return "node"
    return "limit"


def _short(memory: NodeMemory | None, when: float) -> bool:
    """Was the node short of memory in the 5 minutes up to a minute after `when`?"""
    if memory is None:
        return False

    def inside(t: float) -> bool:
        return when - 300 <= t <= when + 60

    pressed = any(inside(t) and v >= 1 for t, v in memory.pressure)
    drained = any(inside(t) and v < NODE_SHORT_AVAILABLE_RATIO for t, v in memory.available)
    return pressed or drained


def _cut(
    history: History, ref: ContainerRef, figure: str, start: float, end: float
) -> tuple[tuple[float, float], ...]:
    return tuple(point for point in history.of(ref, figure) if start <= point[0] <= end)


@dataclass(frozen=True, slots=True)
class EvictedAlert:
    """A pod the kubelet evicted, once per pod."""

    pod: PodName
    node: str | None
    memory_pressure: bool | None  # the node's MemoryPressure then; None: not exported
    last_working_set_bytes: int | None  # the pod's, summed over its containers
    workload: str | None

    kind = "evicted"
    severity = "warning"

    @property
    def key(self) -> str:
        return f"evicted/{self.pod.cluster}/{self.pod.namespace}/{self.pod.pod}"


@dataclass(frozen=True, slots=True)
class ProcessOomAlert:
    """A process OOM-killed inside a container that lived on, once per increase."""

    assessment: Assessment
    events: int  # processes killed in the look-back

    kind = "process_oom"
    severity = "warning"

    @property
    def key(self) -> str:
        m = self.assessment.memory
        r = m.ref
        started = f"{m.started_at:.0f}" if m.started_at is not None else "?"
        where = f"{r.cluster}/{r.namespace}/{r.pod}/{r.container}"
        return f"process/{where}@{started}#{m.oom_events_total}"


def find_evictions(
    snapshot: Snapshot, *, source: MemorySource, settings: Settings, at: datetime
) -> tuple[EvictedAlert, ...]:
    """Pods evicted inside the look-back, with their node and whether it was short of memory
    (the kubelet also evicts for disk and PIDs: those are not podmem's to report)."""
    pods: dict[PodName, list[ContainerMemory]] = {}
    for m in snapshot.containers:
        if m.evicted:
            pods.setdefault(m.ref.pod_name, []).append(m)
    if not pods:
        return ()
    nodes = sorted({n for ms in pods.values() if (n := ms[0].node_of_eviction)})
    start = at - timedelta(seconds=settings.oom_lookback_seconds)
    node_memory = source.node_memory(nodes, start, at) if nodes else {}
    found = []
    for pod, containers in sorted(pods.items()):
        node = containers[0].node_of_eviction or None
        seen = node_memory.get(node) if node else None
        pressure = (
            None if seen is None or not seen.pressure else any(v >= 1 for _, v in seen.pressure)
        )
        if pressure is False:
            continue
        used = [m.last_working_set_bytes for m in containers if m.last_working_set_bytes]
        found.append(
            EvictedAlert(pod, node, pressure, sum(used) if used else None, containers[0].workload)
        )
    return tuple(found)


def find_process_ooms(assessments: Iterable[Assessment]) -> tuple[ProcessOomAlert, ...]:
    """Containers whose cgroup saw OOM kills while the container itself did not restart."""
    return tuple(
        ProcessOomAlert(a, a.memory.oom_events_in_window or 0)
        for a in assessments
        if a.memory.oom_events_in_window and not a.memory.restarts_in_window
    )


def killed_by_node(
    kills: Iterable[OomKill],
    assessments: Iterable[Assessment],
    *,
    source: MemorySource,
    at: datetime,
    window_seconds: float,
) -> frozenset[ContainerRef]:
    """Containers with a kill that was the node's: no limit to reach, or the node short of
    memory then. Without the memory history of each kill (the digest does not fetch it), a
    kill on a short node counts as the node's."""
    by_ref = {a.memory.ref: a.memory for a in assessments}
    killed = [(k, by_ref.get(k.ref)) for k in kills]
    nodes = sorted({m.node for _, m in killed if m is not None and m.node})
    start = at - timedelta(seconds=window_seconds)
    memory = source.node_memory(nodes, start, at) if nodes else {}
    found = set()
    for kill, m in killed:
        if m is None:
            continue
        when = (kill.finished_at or at).timestamp()
        if not m.limit_bytes or (m.node and _short(memory.get(m.node), when)):
            found.add(kill.ref)
    return frozenset(found)
