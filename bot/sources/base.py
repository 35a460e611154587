"""What every memory source offers, so the CLI, the bot and the demo share one pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.model import (
    ContainerMemory,
    ContainerRef,
    History,
    NamespaceCounts,
    PodName,
    Profile,
    Snapshot,
    Termination,
)
from bot.promql import Scope


@dataclass(frozen=True, slots=True)
class NodeMemory:
    """A node's memory over a range: (unix s, value) points, either may be empty."""

    pressure: tuple[tuple[float, float], ...] = ()  # MemoryPressure condition, 1 while true
    available: tuple[tuple[float, float], ...] = ()  # MemAvailable / MemTotal


class MemorySource(Protocol):
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
        """Every container in scope with its figures at `at`; OOM evidence over the window
        (default: the configured look-back). With `candidates` (a cluster-wide check), a
        source may return only the containers that may be more than ok (near their limit,
        racing, stalled, restarted, killed, evicted, with thresholds of their own) and the
        `watched` pods', with `Snapshot.counts` of them all, and of those only the figures
        judging them needs (`Snapshot.partial`: the rest comes from `breakdown`). Without
        `events`, evictions and worker-process kills (news for a check, not for the digest)
        may be left out."""
        ...

    def breakdown(
        self, at: datetime, pods: Sequence[tuple[str, str]]
    ) -> tuple[ContainerMemory, ...]:
        """Every figure of the containers of these (namespace, pod)s at `at`: what a partial
        check snapshot left out of the containers it will show. Part of that check's work."""
        ...

    def pods(self, at: datetime, scope: Scope) -> list[PodName]:
        """The pods in scope that exist at `at` (for resolving what a user typed)."""
        ...

    def closest_to_limit(self, at: datetime, scope: Scope, count: int) -> list[ContainerRef]:
        """The `count` containers in scope with the highest working set / limit, highest
        first (without fetching the others)."""
        ...

    def profiles(
        self, at: datetime, scope: Scope, *, window_seconds: float, step_seconds: float
    ) -> dict[ContainerRef, Profile]:
        """p95 and peak working set per container over the window before `at`."""
        ...

    def history(self, scope: Scope, start: datetime, end: datetime) -> History:
        """The figures of the scoped containers over [start, end]."""
        ...

    def terminations(self, scope: Scope, start: datetime, end: datetime) -> list[Termination]:
        """Every termination of the scoped containers in [start, end], whatever its reason."""
        ...

    def node_memory(
        self, nodes: list[str], start: datetime, end: datetime
    ) -> dict[str, NodeMemory]:
        """Whether the named nodes were short of memory over [start, end]."""
        ...

    def node_top_pods(self, node: str, at: float, count: int) -> tuple[tuple[str, int], ...]:
        """The `count` pods using the most working set on `node` at unix time `at`."""
        ...


@dataclass(frozen=True, slots=True)
class DigestAsk:
    """What a digest shows, for a source that can pick it out where the data is."""

    rows: int  # rows of each list per namespace (a channel shows at most this many)
    # False when every container goes to one channel: the cluster's top rows are its.
    per_namespace: bool
    floor: float  # working set / limit a container needs to be on the top list
    window_seconds: float  # the day: restarts and kills
    headroom: float  # right-sizing: the rules of `right_size`, asked server-side
    min_freed_bytes: int
    profile_window_seconds: float
    profile_step_seconds: float


@dataclass(frozen=True)
class DigestAnswer:
    """The containers a digest may name, with every figure: the check's candidates (anything
    more than ok), each namespace's top rows of each list, and every replica of the workloads
    right-sizing may have a finding for (with their profiles); the rest only counted."""

    snapshot: Snapshot
    namespaces: dict[tuple[str, str], NamespaceCounts]
    profiles: dict[ContainerRef, Profile] | None
    profile_error: str | None = None
    # Replicas right-sizing needs that the digest does not name: request, limit and owner
    # only (not judged, not counted twice: `snapshot.counts` counts them).
    sizing: tuple[ContainerMemory, ...] = ()
    # Every termination in the window of the containers that restarted in it.
    terminations: tuple[Termination, ...] = ()


@runtime_checkable
class DigestSource(Protocol):
    def digest_snapshot(self, at: datetime, ask: DigestAsk) -> DigestAnswer:
        """The digest's containers and counts (DigestAnswer), a few hundred rows at any size."""
        ...
