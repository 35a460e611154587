"""OOM kills: which containers were killed, once each, and what the memory did before.

The traps this avoids, each seen in peers' bug trackers:
- `kube_pod_container_status_last_terminated_reason` is a sticky 0/1 gauge: a kill from two
  days ago still reads 1. A *new* kill is a restart-count increase inside the look-back window
  while that reason says OOMKilled.
- `lastState.terminated` in the API persists across restarts the same way: only a
  `finishedAt` inside the window makes it news.
- `container_oom_events_total` is often 0 or absent: it is collected (`oom_events_in_window`)
  but never relied on.
A kill's identity is (cluster, namespace, pod, container, restart count of the dead
container): the same from both sources, every cycle, on every replica.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.model import ContainerRef, OomKill, Termination
from bot.units import MIB, format_bytes, format_duration, format_ratio, quantity, round_up_quantity

SUGGESTED_HEADROOM = 1.15
# After an OOM, never suggest less than the old limit plus this, as VPA's OOM bump does.
MIN_BUMP_AFTER_OOM_BYTES = 100 * MIB


@dataclass(frozen=True, slots=True)
class TerminationFacts:
    """What the Kubernetes API says about one container's termination."""

    ref: ContainerRef
    restart_count: int  # the count the *dead* container had
    reason: str
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    workload: str | None = None


def kills_from_api(
    facts: Iterable[TerminationFacts], *, at: datetime, window_seconds: float
) -> list[OomKill]:
    oldest = at - timedelta(seconds=window_seconds)
    return [
        OomKill(
            ref=f.ref,
            restart_count=f.restart_count,
            finished_at=f.finished_at,
            started_at=f.started_at,
            exit_code=f.exit_code,
            workload=f.workload,
            source="kubernetes",
        )
        for f in facts
        if f.reason == "OOMKilled" and f.finished_at is not None and oldest <= f.finished_at <= at
    ]


def kill_times(
    kills: Iterable[OomKill], ref: ContainerRef, *, seen_at: float
) -> tuple[list[float], list[float]]:
    """`ref`'s kills as unix times to mark on a chart, each once: (exact, approximate).

    Approximate: a scrape's time (restart seen, not timed), or no time at all: several
    restarts between two scrapes give the last one the scrape's time and the earlier ones
    none. Such a kill happened before the next timed kill of the container, or at the
    latest when it was seen (`seen_at`): it is marked there, never left out, so a chart
    counts as many kills as the message that tells them."""
    own = sorted({k.restart_count: k for k in kills if k.ref == ref}.items())
    exact: set[float] = set()
    approximate: list[float] = []
    for index, (_, kill) in enumerate(own):
        if kill.finished_at is not None and kill.time_exact:
            exact.add(kill.finished_at.timestamp())
            continue
        later = [k.finished_at.timestamp() for _, k in own[index:] if k.finished_at is not None]
        approximate.append(min(later, default=seen_at))
    return sorted(exact), sorted(approximate)


def merge_kills(*sources: Iterable[OomKill]) -> list[OomKill]:
    """One kill per identity; later sources (the API: exact times) refine earlier ones."""
    merged: dict[tuple[str, str, str, str, int], OomKill] = {}
    for kills in sources:
        for kill in kills:
            known = merged.get(kill.identity)
            keep_workload = known is not None and kill.workload is None
            merged[kill.identity] = (
                replace(kill, workload=known.workload) if keep_workload and known else kill
            )
    return sorted(
        merged.values(),
        key=lambda k: (k.identity, k.finished_at or datetime.min.replace(tzinfo=UTC)),
    )


@dataclass(frozen=True, slots=True)
class KillGroup:
    """Kills of pods of one workload close together: one message, not ten."""

    workload: str | None
    kills: tuple[OomKill, ...]

    @property
    def key(self) -> str:
        first = self.kills[0]
        base = self.workload or first.ref.pod
        return f"{first.ref.cluster}/{first.ref.namespace}/{base}/{first.restart_count}"


def group_kills(
    kills: Iterable[OomKill], *, window_seconds: float, at: datetime
) -> list[KillGroup]:
    by_workload: dict[tuple[str, str, str], list[OomKill]] = {}
    for kill in kills:
        owner = kill.workload or f"pod/{kill.ref.pod}"
        by_workload.setdefault((kill.ref.cluster, kill.ref.namespace, owner), []).append(kill)
    groups: list[KillGroup] = []
    for members in (by_workload[key] for key in sorted(by_workload)):
        members.sort(key=lambda k: k.finished_at or at)
        current: list[OomKill] = []
        for kill in members:
            when = kill.finished_at or at
            if current and (when - (current[0].finished_at or at)).total_seconds() > window_seconds:
                groups.append(KillGroup(current[0].workload, tuple(current)))
                current = []
            current.append(kill)
        if current:
            groups.append(KillGroup(current[0].workload, tuple(current)))
    return groups


@dataclass(frozen=True, slots=True)
class KillContext:
    """The memory picture before a kill, and what it says. (Unknown figures default to
    None: a notice stores only the figures there are.)"""

    story: str = ""
    peak_working_set_bytes: int | None = None
    peak_rss_bytes: int | None = None
    peak_cache_bytes: int | None = None
    peak_usage_bytes: int | None = None
    limit_bytes: int | None = None
    request_bytes: int | None = None
    seconds_running: float | None = None
    suggested_limit_bytes: int | None = None


Points = tuple[tuple[float, float], ...]


def _peak(points: Points) -> int | None:
    return round(max(v for _, v in points)) if points else None


def kill_context(
    kill: OomKill,
    *,
    working_set: Points,
    rss: Points,
    cache: Points,
    usage: Points,
    limit_bytes: int | None,
    request_bytes: int | None,
    by_node: bool = False,
) -> KillContext:
    """Peaks and the story from the series in the window before the kill (already cut).
    `by_node`: the node, not the limit, killed it: no bigger limit is suggested."""
    peak_ws, peak_rss = _peak(working_set), _peak(rss)
    running = (
        (kill.finished_at - kill.started_at).total_seconds()
        if kill.finished_at and kill.started_at
        else None
    )
    suggested = None
    if not by_node and (peak_ws is not None or limit_bytes is not None):
        candidates = [math.ceil((peak_ws or 0) * SUGGESTED_HEADROOM)]
        if limit_bytes:
            candidates.append(limit_bytes + MIN_BUMP_AFTER_OOM_BYTES)
        suggested = round_up_quantity(max(candidates))
    return KillContext(
        peak_working_set_bytes=peak_ws,
        peak_rss_bytes=peak_rss,
        peak_cache_bytes=_peak(cache),
        peak_usage_bytes=_peak(usage),
        limit_bytes=limit_bytes,
        request_bytes=request_bytes,
        seconds_running=running,
        suggested_limit_bytes=suggested,
        story=(
            _node_story(kill, peak_ws, limit_bytes, running)
            if by_node
            else _story(kill, rss, peak_ws, peak_rss, limit_bytes, running, suggested)
        ),
    )


def _node_story(
    kill: OomKill, peak_ws: int | None, limit: int | None, running: float | None
) -> str:
    where = f"{kill.ref.namespace}/{kill.ref.pod} container {kill.ref.container}"
    text = f"{where} was OOM-killed by its node (exit code {kill.exit_code or 137})"
    text += f" after running {format_duration(running)}." if running is not None else "."
    level = (
        f" at {format_ratio(peak_ws / limit)} of its limit"
        if peak_ws is not None and limit
        else f" at {format_bytes(peak_ws)} with no limit"
        if peak_ws is not None
        else ""
    )
    return text + (
        f" It was{level} when the node ran short of memory and the kernel picked it. A bigger "
        "limit will not help: the node's largest users, or too many pods on it (requests "
        "below what they use), are the fix."
    )


def _story(  # noqa: PLR0917 -- private, called once with named figures
    kill: OomKill,
    rss: Points,
    peak_ws: int | None,
    peak_rss: int | None,
    limit: int | None,
    running: float | None,
    suggested: int | None,
) -> str:
    where = f"{kill.ref.namespace}/{kill.ref.pod} container {kill.ref.container}"
    text = f"{where} was OOM-killed (exit code {kill.exit_code or 137})"
    text += f" after running {format_duration(running)}." if running is not None else "."
    advice = f" Suggested limit: {quantity(suggested)}." if suggested else ""
    if peak_ws is None or not limit:
        return (
            text + " No memory samples before the kill: it may have died between scrapes." + advice
        )
    ws_ratio = peak_ws / limit
    if ws_ratio < 0.8:
        return text + (
            f" The last samples peaked at {format_ratio(ws_ratio)} of the limit: memory spiked "
            "between scrapes, a burst allocation rather than slow growth." + advice
        )
    rss_ratio = (peak_rss or 0) / limit
    if rss_ratio < ws_ratio / 2:
        return text + (
            f" The working set peaked at {format_ratio(ws_ratio)} of the limit but RSS only at "
            f"{format_ratio(rss_ratio)}: active page cache (tmpfs, shared memory or hot file "
            "pages) filled the limit." + advice
        )
    third = max(1, len(rss) // 3)
    early = sum(v for _, v in rss[:third]) / third
    late = sum(v for _, v in rss[-third:]) / third
    # Thirds of the window, averaged: a rise of 2 % of the limit is a trend, not GC noise.
    if late - early > 0.02 * limit:
        return text + (
            f" RSS climbed steadily to {format_bytes(peak_rss)} ({format_ratio(rss_ratio)} of "
            f"the {format_bytes(limit)} limit): a leak, or a limit too small for the load."
            + advice
            + (" If it is a leak, a bigger limit only delays the next kill." if advice else "")
        )
    return text + (
        f" RSS sat at {format_ratio(rss_ratio)} of the {format_bytes(limit)} limit: the limit "
        "is too small for this workload's steady state." + advice
    )


def terminations_in(
    ref: ContainerRef, figures: dict[str, dict[float, Any]], *, start: float
) -> list[Termination]:
    """A container's terminations from its sampled history: `restarts` (count), `finished`
    (last termination's unix time) and `reason` (the reason reading 1), each {time: value}.

    With kube-state-metrics' timestamp, each new `finished` value inside the range is one
    termination; the dead container's restart count is the count while it ran (the last
    sample at or before its end), whether the counter steps at the end or at the restart.
    Without the timestamp (older kube-state-metrics), each step of the restart count is one,
    at the time of the sample that shows it."""
    restarts, finished, reasons = (figures.get(n, {}) for n in ("restarts", "finished", "reason"))
    counts = sorted(restarts.items())

    def count_at(when: float) -> int | None:
        before = [value for ts, value in counts if ts <= when]
        return int(before[-1]) if before else (int(counts[0][1]) if counts else None)

    out: list[Termination] = []
    if finished:
        seen: set[float] = set()
        for ts, finish in sorted(finished.items()):
            if finish in seen or finish < start:
                seen.add(finish)
                continue
            seen.add(finish)
            dead = count_at(finish)
            if dead is not None:
                when = datetime.fromtimestamp(finish, tz=UTC)
                out.append(Termination(ref, dead, _reason_at(reasons, ts), when))
        return out
    previous: float | None = None
    for ts, count in counts:
        if previous is not None and count > previous:
            for dead in range(int(previous), int(count)):
                seen_at = datetime.fromtimestamp(ts, tz=UTC) if dead == int(count) - 1 else None
                reason = _reason_at(reasons, ts)
                out.append(Termination(ref, dead, reason, seen_at, time_exact=False))
        previous = count
    return out


def _reason_at(reasons: dict[float, Any], ts: float) -> str:
    """The reason reading 1 at `ts`. When two do (the replaced one lingers until Prometheus
    marks it stale, or for 5 min where no staleness marker was written), the new one is the
    one that did not read 1 at the sample before."""
    now = set(reasons.get(ts, ()))
    if len(now) > 1:
        earlier = [t for t in reasons if t < ts]
        now -= set(reasons[max(earlier)]) if earlier else set()
    return min(now) if len(now) == 1 else ""
