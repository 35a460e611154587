"""Verdicts: what a container's memory figures mean. Pure: values in, values out.

The rule the whole product rests on lives here: the kernel OOM-kills a container when its
*working set* reaches the limit, not when *usage* does. Usage also counts inactive page cache,
which the kernel reclaims first. So every ratio that drives a verdict is working set / limit,
and usage / limit is only ever used to say "this looks full, but it is cache".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.model import ContainerMemory, Verdict
from bot.settings import Settings
from bot.units import format_bytes, format_duration, format_rate, format_ratio

# Below this growth the working set is "flat": 1 KiB/min is noise from GC and page faults.
FLAT_GROWTH_BYTES_PER_SECOND = 1024 / 60


@dataclass(frozen=True, slots=True)
class Thresholds:
    warning_ratio: float = 0.80
    critical_ratio: float = 0.90
    critical_time_to_limit_seconds: float = 1800
    cache_heavy_usage_ratio: float = 0.90
    for_duration_seconds: float = 300
    trend_window_seconds: float = 1800

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            warning_ratio=settings.warning_ratio,
            critical_ratio=settings.critical_ratio,
            critical_time_to_limit_seconds=settings.critical_time_to_limit_seconds,
            cache_heavy_usage_ratio=settings.cache_heavy_usage_ratio,
            for_duration_seconds=settings.for_duration_seconds,
            trend_window_seconds=settings.trend_window_seconds,
        )


@dataclass(frozen=True, slots=True)
class Assessment:
    """A container's figures, what follows from them, and the verdict in plain words."""

    memory: ContainerMemory
    reclaimable_bytes: int | None
    active_cache_bytes: int | None
    working_set_to_limit: float | None
    working_set_to_request: float | None
    usage_to_limit: float | None
    rss_to_limit: float | None
    sustained_working_set_to_limit: float | None
    seconds_to_limit: float | None
    verdict: Verdict
    explain: Callable[[], str] = field(default=lambda: "", compare=False, repr=False)

    @property
    def reason(self) -> str:
        """The verdict in plain words; built when asked, as most containers are never shown."""
        return self.explain()


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


def assess(memory: ContainerMemory, thresholds: Thresholds) -> Assessment:
    working_set_to_limit = _ratio(memory.working_set_bytes, memory.limit_bytes)
    floor_ratio = _ratio(memory.working_set_floor_bytes, memory.limit_bytes)
    sustained = (
        min(working_set_to_limit, floor_ratio)
        if working_set_to_limit is not None and floor_ratio is not None
        else working_set_to_limit
    )
    partial = Assessment(
        memory=memory,
        reclaimable_bytes=_difference(memory.usage_bytes, memory.working_set_bytes),
        active_cache_bytes=_difference(memory.working_set_bytes, memory.rss_bytes),
        working_set_to_limit=working_set_to_limit,
        working_set_to_request=_ratio(memory.working_set_bytes, memory.request_bytes),
        usage_to_limit=_ratio(memory.usage_bytes, memory.limit_bytes),
        rss_to_limit=_ratio(memory.rss_bytes, memory.limit_bytes),
        sustained_working_set_to_limit=sustained,
        seconds_to_limit=seconds_to_limit(memory),
        verdict=Verdict.NO_DATA,
    )
    verdict, explain = _judge(partial, thresholds)
    # Frozen, but built here: set the two late fields without a second copy of the object.
    object.__setattr__(partial, "verdict", verdict)
    object.__setattr__(partial, "explain", explain)
    return partial


def _judge(a: Assessment, t: Thresholds) -> tuple[Verdict, Callable[[], str]]:
    """The verdict now; its sentence on demand (most containers are never shown)."""
    m = a.memory
    if m.working_set_bytes is None:
        return (
            Verdict.NO_DATA,
            lambda: (
                "No working-set data: the container is not running now, or the kubelet's "
                "cAdvisor endpoint is not scraped."
            ),
        )
    if a.working_set_to_limit is None:
        return Verdict.NO_LIMIT, lambda: _no_limit_reason(a)

    ratio, sustained = a.working_set_to_limit, a.sustained_working_set_to_limit or 0.0
    racing = (
        a.seconds_to_limit is not None and a.seconds_to_limit < t.critical_time_to_limit_seconds
    )
    if sustained >= t.critical_ratio or racing:
        return Verdict.CRITICAL, lambda: _pressure_reason(a, t, racing=racing)
    if sustained >= t.warning_ratio:
        return Verdict.WARNING, lambda: _pressure_reason(a, t, racing=False)
    usage_full = a.usage_to_limit is not None and a.usage_to_limit >= t.cache_heavy_usage_ratio
    if usage_full and ratio < t.warning_ratio:
        return Verdict.CACHE_HEAVY, lambda: _cache_heavy_reason(a, t)
    return (
        Verdict.OK,
        lambda: (
            f"Working set {format_bytes(m.working_set_bytes)} is {format_ratio(ratio)} of the "
            f"{format_bytes(m.limit_bytes)} limit." + _pending(a, t) + _trend_sentence(a, t)
        ),
    )


def _pending(a: Assessment, t: Thresholds) -> str:
    ratio = a.working_set_to_limit or 0.0
    if ratio < t.warning_ratio:
        return ""
    return (
        f" It is {format_ratio(ratio)} right now, but has not stayed above "
        f"{format_ratio(t.warning_ratio)} for {format_duration(t.for_duration_seconds)} yet."
    )


def _cache_heavy_reason(a: Assessment, t: Thresholds) -> str:
    m = a.memory
    return (
        f"Usage is at {format_ratio(a.usage_to_limit)} of the "
        f"{format_bytes(m.limit_bytes)} limit, but {format_bytes(a.reclaimable_bytes)} of it "
        f"is reclaimable page cache; the working set is {format_ratio(a.working_set_to_limit)}: "
        "no OOM risk. The kernel drops that cache before it kills anything, so an alert on "
        "usage here would be noise." + _pending(a, t)
    )


def _no_limit_reason(a: Assessment) -> str:
    m = a.memory
    text = (
        f"No memory limit: working set {format_bytes(m.working_set_bytes)} can grow until the "
        "node runs short, and then this pod is among the first evicted or killed."
    )
    if a.working_set_to_request is not None:
        text += (
            f" It is {format_ratio(a.working_set_to_request)} of its "
            f"{format_bytes(m.request_bytes)} request"
            + (
                ": above the request, so eviction goes after it first under node pressure."
                if a.working_set_to_request > 1
                else "."
            )
        )
    else:
        text += " No request either (BestEffort): evicted first under node pressure."
    return text


def _pressure_reason(a: Assessment, t: Thresholds, *, racing: bool) -> str:
    m = a.memory
    ratio = a.working_set_to_limit or 0.0
    if racing and (a.sustained_working_set_to_limit or 0.0) < t.critical_ratio:
        text = (
            f"Working set {format_bytes(m.working_set_bytes)} ({format_ratio(ratio)} of the "
            f"{format_bytes(m.limit_bytes)} limit) grows {format_rate(m.growth_bytes_per_second)}"
            f": it reaches the limit in {format_duration(a.seconds_to_limit)}, and the kernel "
            "OOM-kills it there."
        )
    else:
        text = (
            f"Working set {format_bytes(m.working_set_bytes)} is {format_ratio(ratio)} of the "
            f"{format_bytes(m.limit_bytes)} limit and has stayed above "
            f"{format_ratio(t.critical_ratio if ratio >= t.critical_ratio else t.warning_ratio)}"
            f" for {format_duration(t.for_duration_seconds)}; the kernel OOM-kills at 100 %."
        )
        text += _trend_sentence(a, t)
    return text + _composition_sentence(a)


def _composition_sentence(a: Assessment) -> str:
    """Say honestly what the working set is made of: RSS kills harder than active cache."""
    m = a.memory
    if m.rss_bytes is None or a.active_cache_bytes is None or not m.working_set_bytes:
        return ""
    if a.active_cache_bytes > m.rss_bytes:
        return (
            f" Most of it ({format_bytes(a.active_cache_bytes)}) is active page cache, which "
            "the kernel can still reclaim under pressure; RSS is only "
            f"{format_ratio(a.rss_to_limit)} of the limit, so the risk is softer than the "
            "ratio says."
        )
    return (
        f" RSS (anonymous memory, not reclaimable without swap) is "
        f"{format_bytes(m.rss_bytes)}, {format_ratio(a.rss_to_limit)} of the limit."
    )


def _trend_sentence(a: Assessment, t: Thresholds) -> str:
    growth = a.memory.growth_bytes_per_second
    if growth is None:
        return ""
    window = format_duration(t.trend_window_seconds)
    if abs(growth) < FLAT_GROWTH_BYTES_PER_SECOND:
        return f" Flat over the last {window}."
    if growth < 0:
        return f" Falling {format_rate(growth)} over the last {window}."
    if a.seconds_to_limit is not None:
        return (
            f" Growing {format_rate(growth)}: at this rate it reaches the limit in "
            f"{format_duration(a.seconds_to_limit)}."
        )
    return f" Growing {format_rate(growth)}."
