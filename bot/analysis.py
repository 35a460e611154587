"""Verdicts: what a container's memory figures mean. Pure: values in, values out.

The rule the whole product rests on lives here: the kernel OOM-kills a container when its
*working set* reaches the limit, not when *usage* does. Usage also counts inactive page cache,
which the kernel reclaims first. So every ratio that drives a verdict is working set / limit,
and usage / limit is only ever used to say "this looks full, but it is cache".

The working set is not the whole truth either, and the verdict says where it is not:
- active page cache is reclaimable too (deactivated, then reclaimed, before any OOM kill);
  only anonymous memory (RSS, and what was swapped out of it) is not. A working set high
  because of cache is `warning` at most;
- cache can thrash: a container stalled on memory reclaim (PSI) is at least `warning`;
- a slope is a trend only once a container has run a while, and a pod far from its limit is
  warming up, not about to die: "time to the limit" is critical only with that evidence;
- a crash loop of OOM kills reads as fine between two kills: it is at least `warning`.
The sentence that explains a verdict is in `bot/reasons.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.model import ContainerMemory, Verdict
from bot.settings import Settings

# Below this growth the working set is "flat": 1 KiB/min is noise from GC and page faults.
FLAT_GROWTH_BYTES_PER_SECOND = 1024 / 60


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What counts as a problem for one container: the settings, or a pod's own annotations
    (`bot/policy.py`). Every consumer reads them from the assessment, never from settings."""

    warning_ratio: float = 0.80
    critical_ratio: float = 0.90
    critical_time_to_limit_seconds: float = 1800
    critical_time_to_limit_min_ratio: float = 0.5
    trend_min_age_seconds: float = 600
    thrashing_stalled_ratio: float = 0.10
    oom_crashloop_kills: int = 2
    cache_heavy_usage_ratio: float = 0.90
    for_duration_seconds: float = 300
    trend_window_seconds: float = 1800
    resolve_hysteresis_ratio: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            warning_ratio=settings.warning_ratio,
            critical_ratio=settings.critical_ratio,
            critical_time_to_limit_seconds=settings.critical_time_to_limit_seconds,
            critical_time_to_limit_min_ratio=settings.critical_time_to_limit_min_ratio,
            trend_min_age_seconds=settings.trend_min_age_seconds,
            thrashing_stalled_ratio=settings.thrashing_stalled_ratio,
            oom_crashloop_kills=settings.oom_crashloop_kills,
            cache_heavy_usage_ratio=settings.cache_heavy_usage_ratio,
            for_duration_seconds=settings.for_duration_seconds,
            trend_window_seconds=settings.trend_window_seconds,
            resolve_hysteresis_ratio=settings.resolve_hysteresis_ratio,
        )

    @property
    def resolve_below(self) -> float:
        """An open alert resolves below this ratio, not at the warning line: no flapping."""
        return self.warning_ratio - self.resolve_hysteresis_ratio


@dataclass(frozen=True, slots=True)
class Assessment:
    """A container's figures, what follows from them, and why its verdict is what it is.

    Every field is a plain value, so `dataclasses.replace` gives a consistent copy and the
    reason (`bot.reasons.explain`) is computed from the fields when asked."""

    memory: ContainerMemory
    thresholds: Thresholds
    reclaimable_bytes: int | None
    active_cache_bytes: int | None
    working_set_to_limit: float | None
    working_set_to_request: float | None
    usage_to_limit: float | None
    rss_to_limit: float | None
    # RSS plus swapped-out anonymous memory: what no reclaim can free.
    non_reclaimable_to_limit: float | None
    sustained_working_set_to_limit: float | None
    seconds_to_limit: float | None
    # Seconds the current container has run at the evaluation instant; None if unknown.
    age_seconds: float | None
    verdict: Verdict
    # What drove the verdict (the reason tells these apart).
    racing: bool = False  # an established trend reaches the limit soon
    warming_up: bool = False  # would be racing, but too young or too far from the limit
    cache_capped: bool = False  # the ratio says critical, active cache makes it warning
    thrashing: bool = False  # stalled on memory at least thrashing_stalled_ratio
    oom_kills: int = 0  # OOM kills of this container inside the look-back

    @property
    def reason(self) -> str:
        """The verdict in plain words, computed now (only shown containers ask)."""
        from bot.reasons import explain  # noqa: PLC0415 -- reasons import this module

        return explain(self)


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _difference(larger: int | None, smaller: int | None) -> int | None:
    if larger is None or smaller is None:
        return None
    return max(0, larger - smaller)


def seconds_to_limit(memory: ContainerMemory) -> float | None:
    """When the working set meets the limit at the current slope; None if it never does."""
    working_set, limit, growth = (
        memory.working_set_bytes,
        memory.limit_bytes,
        memory.growth_bytes_per_second,
    )
    if working_set is None or not limit:
        return None
    if working_set >= limit:
        return 0.0
    if growth is None or growth < FLAT_GROWTH_BYTES_PER_SECOND:
        return None
    return (limit - working_set) / growth


def assess(
    memory: ContainerMemory,
    thresholds: Thresholds,
    *,
    at: datetime | None = None,
    oom_kills: int = 0,
) -> Assessment:
    """`at` (the evaluation instant) gives the container's age; without it the age is unknown
    and a trend counts as established. `oom_kills`: kills inside the look-back."""
    t = thresholds
    ws_ratio = _ratio(memory.working_set_bytes, memory.limit_bytes)
    floor_ratio = _ratio(memory.working_set_floor_bytes, memory.limit_bytes)
    sustained = (
        min(ws_ratio, floor_ratio) if ws_ratio is not None and floor_ratio is not None else ws_ratio
    )
    anonymous = None if memory.rss_bytes is None else memory.rss_bytes + (memory.swap_bytes or 0)
    age = (
        max(0.0, at.timestamp() - memory.started_at)
        if at is not None and memory.started_at is not None
        else None
    )
    ttl = seconds_to_limit(memory)
    stalled = memory.memory_stalled_ratio
    non_reclaimable = _ratio(anonymous, memory.limit_bytes)
    fast = ttl is not None and ttl < t.critical_time_to_limit_seconds
    established = (age is None or age >= t.trend_min_age_seconds) and (
        ws_ratio is not None and ws_ratio >= t.critical_time_to_limit_min_ratio
    )
    by_ratio = sustained is not None and sustained >= t.critical_ratio
    cache_capped = by_ratio and non_reclaimable is not None and non_reclaimable < t.warning_ratio
    drivers = {
        "racing": fast and established,
        "warming_up": fast and not established,
        "cache_capped": cache_capped,
        "thrashing": stalled is not None and stalled >= t.thrashing_stalled_ratio,
    }
    verdict = _verdict(
        memory,
        t,
        ratio=ws_ratio,
        sustained=sustained,
        usage_ratio=_ratio(memory.usage_bytes, memory.limit_bytes),
        crash_loop=oom_kills >= t.oom_crashloop_kills,
        racing=drivers["racing"],
        cache_capped=cache_capped,
        thrashing=drivers["thrashing"],
    )
    return Assessment(
        memory=memory,
        thresholds=t,
        reclaimable_bytes=_difference(memory.usage_bytes, memory.working_set_bytes),
        active_cache_bytes=_difference(memory.working_set_bytes, memory.rss_bytes),
        working_set_to_limit=ws_ratio,
        working_set_to_request=_ratio(memory.working_set_bytes, memory.request_bytes),
        usage_to_limit=_ratio(memory.usage_bytes, memory.limit_bytes),
        rss_to_limit=_ratio(memory.rss_bytes, memory.limit_bytes),
        non_reclaimable_to_limit=non_reclaimable,
        sustained_working_set_to_limit=sustained,
        seconds_to_limit=ttl,
        age_seconds=age,
        verdict=verdict,
        oom_kills=oom_kills,
        **drivers,
    )


def _verdict(
    m: ContainerMemory,
    t: Thresholds,
    *,
    ratio: float | None,
    sustained: float | None,
    usage_ratio: float | None,
    crash_loop: bool,
    racing: bool,
    cache_capped: bool,
    thrashing: bool,
) -> Verdict:
    if m.working_set_bytes is None:
        return Verdict.NO_DATA
    if ratio is None:
        # No limit to judge against; thrashing or a kill loop still needs someone's eyes.
        return Verdict.WARNING if thrashing or crash_loop else Verdict.NO_LIMIT
    held = sustained or 0.0
    if (held >= t.critical_ratio and not cache_capped) or racing:
        return Verdict.CRITICAL
    if held >= t.warning_ratio or thrashing or crash_loop:
        return Verdict.WARNING
    usage_full = usage_ratio is not None and usage_ratio >= t.cache_heavy_usage_ratio
    if usage_full and ratio < t.warning_ratio:
        return Verdict.CACHE_HEAVY
    return Verdict.OK
