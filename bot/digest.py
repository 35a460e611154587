"""The daily digest: one message per routed channel that is worth reading over coffee.

Top risks by working set / limit, OOM kills of the last 24 h by workload, containers with no
limit, the ones that look full but are cache, right-sizing with its evidence, and the change
against the day before. Gathering does the I/O once for all channels; `build` is pure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta

from bot.analysis import Assessment, Thresholds
from bot.check import verdict_counts
from bot.errors import SourceError
from bot.kills import find_kills, kill_counts, killed_by_node
from bot.model import (
    ContainerCounts,
    ContainerMemory,
    ContainerRef,
    NamespaceCounts,
    OomKill,
    Profile,
    Snapshot,
    Termination,
    Verdict,
)
from bot.policy import assess_all
from bot.promql import CLUSTER_WIDE
from bot.rightsizing import Finding, right_size
from bot.routing import destinations
from bot.settings import Settings
from bot.sources.base import DigestAsk, DigestSource, MemorySource
from bot.sources.kubernetes import KubernetesSource
from bot.state.document import DigestSummary

DAY = 86400.0
# Rows of each digest list a notice carries to the thread (the rest are counted).
DIGEST_ROWS = 25


@dataclass(frozen=True)
class Digest:
    channel: str
    evaluated_at: datetime
    assessments: tuple[Assessment, ...]
    kills: tuple[OomKill, ...]
    findings: tuple[Finding, ...]
    rightsizing_error: str | None = None
    previous: DigestSummary | None = None
    counts: Counter[Verdict] = field(default_factory=Counter)
    floor: float = 0.0  # working set / limit a container needs to be on the top list
    containers: int = 0  # all the channel's containers (`assessments` may hold only the shown)
    # Rows of a list ("top", "no_limit", "cache_heavy") left out of `assessments`.
    more: dict[str, int] = field(default_factory=dict)

    @property
    def top(self) -> list[Assessment]:
        """Containers at or above the floor, closest to their limit first."""
        limited = [a for a in self.assessments if (a.working_set_to_limit or 0.0) >= self.floor]
        return sorted(limited, key=lambda a: -(a.working_set_to_limit or 0.0))

    @property
    def no_limit(self) -> list[Assessment]:
        return sorted(
            (a for a in self.assessments if a.verdict is Verdict.NO_LIMIT),
            key=lambda a: -(a.memory.working_set_bytes or 0),
        )

    @property
    def cache_heavy(self) -> list[Assessment]:
        heavy = [a for a in self.assessments if a.verdict is Verdict.CACHE_HEAVY]
        return sorted(heavy, key=lambda a: -(a.working_set_to_limit or 0.0))

    @property
    def kills_by_workload(self) -> dict[str, list[OomKill]]:
        groups: dict[str, list[OomKill]] = defaultdict(list)
        for kill in self.kills:
            groups[f"{kill.ref.namespace}/{kill.workload or 'pod/' + kill.ref.pod}"].append(kill)
        return dict(sorted(groups.items(), key=lambda item: -len(item[1])))

    def shown(self, rows: int) -> tuple[Assessment, ...]:
        """The assessments its lists name, at most `rows` per list: what a notice carries."""
        picked = {a.memory.ref: a for a in self.top[:rows]}
        picked |= {a.memory.ref: a for a in self.no_limit[:rows]}
        picked |= {a.memory.ref: a for a in self.cache_heavy[:rows]}
        return tuple(picked.values())

    def left_out(self, rows: int) -> dict[str, int]:
        lists = {"top": self.top, "no_limit": self.no_limit, "cache_heavy": self.cache_heavy}
        totals = {name: len(items) + self.more.get(name, 0) for name, items in lists.items()}
        return {name: total - rows for name, total in totals.items() if total > rows}

    @property
    def freeable_bytes(self) -> int:
        return sum(f.freed_bytes for f in self.findings if f.kind == "over_provisioned_request")

    def summary(self) -> DigestSummary:
        return DigestSummary(
            at=self.evaluated_at.timestamp(),
            critical=self.counts[Verdict.CRITICAL],
            warning=self.counts[Verdict.WARNING],
            kills=len(self.kills),
            no_limit=self.counts[Verdict.NO_LIMIT],
            freeable_bytes=self.freeable_bytes,
        )


@dataclass(frozen=True)
class Gathered:
    assessments: tuple[Assessment, ...]
    kills: tuple[OomKill, ...]
    profiles: dict[ContainerRef, Profile] | None
    profile_error: str | None
    notes: tuple[str, ...] = ()
    node_killed: frozenset[ContainerRef] = frozenset()  # OOM-killed by their node
    # Set when `assessments` are only what the digests may name (DigestSource): every
    # container of each (cluster, namespace), counted where it is.
    namespaces: dict[tuple[str, str], NamespaceCounts] | None = None
    # Replicas only right-sizing reads (request, limit, owner): not judged, not named.
    sizing: tuple[ContainerMemory, ...] = ()


def rows_per_list(settings: Settings) -> int:
    """Rows of each list a digest carries: the notice's, or the JSON's top if longer."""
    return max(DIGEST_ROWS, settings.digest_top)


def digest_ask(settings: Settings) -> DigestAsk:
    """What the digests show, as a source that picks it out where the data is needs it."""
    return DigestAsk(
        rows=rows_per_list(settings),
        # Without routes, one channel hears of every container: its top rows are the
        # cluster's, not 25 per namespace.
        per_namespace=bool(settings.routes),
        floor=settings.digest_floor_ratio,
        window_seconds=DAY,
        headroom=settings.rightsizing_headroom_ratio,
        min_freed_bytes=settings.rightsizing_min_freed_bytes,
        profile_window_seconds=settings.rightsizing_window_seconds,
        profile_step_seconds=settings.rightsizing_step_seconds,
    )


def gather(
    *,
    source: MemorySource,
    kubernetes: KubernetesSource | None,
    settings: Settings,
    at: datetime,
    everyone: bool = False,
) -> Gathered:
    """Everything the digests need: the containers they may name with their counts, the
    day's terminations of the containers that restarted and the right-sizing profiles (each
    mostly Prometheus's time). A source that can (DigestSource) picks out what the digests show and
    counts the rest per namespace; routes that select pods by label need every pod's labels,
    so with one of those (or `everyone`) every container is fetched and judged, as before."""
    by_labels = any(route.pod_labels for route in settings.routes)
    if everyone or by_labels or not isinstance(source, DigestSource):
        return _gather_everyone(source=source, kubernetes=kubernetes, settings=settings, at=at)
    answer = source.digest_snapshot(at, digest_ask(settings))
    judged = _judged(
        answer.snapshot,
        list(answer.terminations),
        source=source,
        kubernetes=kubernetes,
        settings=settings,
        at=at,
    )
    return replace(
        judged,
        profiles=answer.profiles,
        profile_error=answer.profile_error,
        namespaces=answer.namespaces,
        sizing=answer.sizing,
    )


def _gather_everyone(
    *,
    source: MemorySource,
    kubernetes: KubernetesSource | None,
    settings: Settings,
    at: datetime,
) -> Gathered:
    """Every container with its figures, the day's terminations and every profile."""
    with ThreadPoolExecutor(2, thread_name_prefix="digest") as side:
        terminations = side.submit(
            source.terminations, CLUSTER_WIDE, at - timedelta(seconds=DAY), at
        )
        profiling = side.submit(_profiles, source, settings, at)
        # The full snapshot: a lean one with the breakdown of a few costs Prometheus as
        # much (its filters scan every series), and the digest names many containers.
        snapshot = source.snapshot(at, CLUSTER_WIDE, oom_window_seconds=DAY, events=False)
        judged = _judged(
            snapshot,
            terminations.result(),
            source=source,
            kubernetes=kubernetes,
            settings=settings,
            at=at,
        )
        profiles, error = profiling.result()
    return replace(judged, profiles=profiles, profile_error=error)


def _judged(
    snapshot: Snapshot,
    terminations: list[Termination],
    *,
    source: MemorySource,
    kubernetes: KubernetesSource | None,
    settings: Settings,
    at: datetime,
) -> Gathered:
    """The day's kills and every container of the snapshot judged (profiles still to add)."""
    kills = tuple(
        find_kills(
            snapshot,
            source=source,
            settings=settings,
            at=at,
            kubernetes=kubernetes,
            window_seconds=DAY,
            terminations=terminations,
        )
    )
    assessments, problems = assess_all(
        snapshot.containers,
        Thresholds.from_settings(settings),
        at=at,
        oom_kills=kill_counts(list(kills)),
    )
    node_killed = killed_by_node(kills, assessments, source=source, at=at, window_seconds=DAY)
    return Gathered(assessments, kills, None, None, snapshot.notes + problems, node_killed)


def _profiles(
    source: MemorySource, settings: Settings, at: datetime
) -> tuple[dict[ContainerRef, Profile] | None, str | None]:
    try:
        profiles = source.profiles(
            at,
            CLUSTER_WIDE,
            window_seconds=settings.rightsizing_window_seconds,
            step_seconds=settings.rightsizing_step_seconds,
        )
    except SourceError as failure:
        # Right-sizing is the heaviest query; without it the digest still says the rest.
        return None, str(failure)
    return profiles, None


def build(
    gathered: Gathered,
    *,
    settings: Settings,
    at: datetime,
    previous: dict[str, DigestSummary],
) -> list[Digest]:
    """One digest per channel that owns at least one container (or the default channel).
    Routes that take only some severities (a pager channel) get no digest."""
    by_channel: dict[str, list[Assessment]] = defaultdict(list)
    for a in gathered.assessments:
        for channel in destinations(a.memory.ref, dict(a.memory.pod_labels), settings).channels:
            by_channel[channel].append(a)
    counted: dict[str, list[NamespaceCounts]] = defaultdict(list)
    for (cluster, namespace), n in (gathered.namespaces or {}).items():
        # Routes here match clusters and namespaces only (gather's condition).
        for channel in destinations(
            ContainerRef(cluster, namespace, "", ""), {}, settings
        ).channels:
            counted[channel].append(n)
            by_channel.setdefault(channel, [])
    sizing: dict[str, list[ContainerMemory]] = defaultdict(list)
    for m in gathered.sizing:
        for channel in destinations(m.ref, {}, settings).channels:
            sizing[channel].append(m)
    if settings.slack_channel and settings.slack_channel not in by_channel:
        by_channel[settings.slack_channel] = []
    killed = frozenset(k.ref for k in gathered.kills if k.ref not in gathered.node_killed)
    digests = []
    for channel, assessments in sorted(by_channel.items()):
        refs = {a.memory.ref for a in assessments}
        findings = (
            right_size(
                [*(a.memory for a in assessments), *sizing[channel]],
                gathered.profiles,
                headroom=settings.rightsizing_headroom_ratio,
                min_freed_bytes=settings.rightsizing_min_freed_bytes,
                oom_killed=killed,
                node_killed=gathered.node_killed,
            )
            if gathered.profiles is not None
            else []
        )
        digest = Digest(
            channel=channel,
            evaluated_at=at,
            assessments=tuple(assessments),
            kills=tuple(k for k in gathered.kills if k.ref in refs),
            findings=tuple(findings),
            rightsizing_error=gathered.profile_error,
            previous=previous.get(channel),
            counts=Counter(a.verdict for a in assessments),
            floor=settings.digest_floor_ratio,
            containers=len(assessments),
        )
        if gathered.namespaces is not None:
            digest = _shown_and_counted(digest, counted[channel], rows_per_list(settings))
        digests.append(digest)
    return digests


def _shown_and_counted(digest: Digest, namespaces: list[NamespaceCounts], rows: int) -> Digest:
    """A digest of the containers fetched (candidates, each namespace's top rows) cut to
    the rows its lists show, with its counts and list lengths from its namespaces' counts.

    The top rows of a channel are among its namespaces' top rows, so the rows kept are the
    rows judging everyone would keep; everything else is a count. (One approximation: a
    no-limit container that crash-loops or thrashes is a warning, not on the no-limit list,
    yet takes one of its namespace's top rows; with more than `rows` such rows in a namespace
    the list could show fewer rows than it should, never wrong ones.)"""
    counted = ContainerCounts(
        *(sum(getattr(n.containers, f.name) for n in namespaces) for f in fields(ContainerCounts))
    )
    counts = verdict_counts(digest.assessments, counted)
    totals = {
        "top": sum(n.above_floor for n in namespaces),
        "no_limit": counts[Verdict.NO_LIMIT],
        "cache_heavy": len(digest.cache_heavy),  # all candidates: usage near the limit
    }
    shown = replace(digest, assessments=digest.shown(rows))
    lists = {"top": shown.top, "no_limit": shown.no_limit, "cache_heavy": shown.cache_heavy}
    more = {name: totals[name] - len(lists[name]) for name in lists}
    return replace(
        shown,
        counts=counts,
        containers=sum(counts.values()),
        more={name: n for name, n in more.items() if n > 0},
    )
