"""An alert's first line: when it hits the limit (or why it matters if it will not), how full
it is, and what fills it — what an on-call reads on a lock screen at 3 a.m.

  "Hits its 256Mi limit in ~42 min — 84 % now, +1.0 MiB/min, RSS-driven: likely a leak."
"""

from __future__ import annotations

from bot.analysis import FLAT_GROWTH_BYTES_PER_SECOND, Assessment
from bot.units import format_bytes, format_duration, format_rate, format_ratio, quantity

# RSS (or active cache) at least this share of the working set names what fills it.
DRIVER_SHARE = 0.8


def headline(a: Assessment) -> str:
    m = a.memory
    ratio = format_ratio(a.working_set_to_limit)
    if m.limit_bytes is None:
        return _no_limit(a)
    limit = quantity(m.limit_bytes)
    growing = (m.growth_bytes_per_second or 0.0) > FLAT_GROWTH_BYTES_PER_SECOND
    if a.racing and a.seconds_to_limit is not None:
        text = (
            f"Hits its {limit} limit in ~{format_duration(a.seconds_to_limit)} — {ratio} now, "
            f"{format_rate(m.growth_bytes_per_second)}"
        )
    elif a.cache_capped:
        return (
            f"{ratio} of its {limit} limit, but {format_bytes(a.active_cache_bytes)} of it is "
            "active page cache the kernel reclaims before it kills: warning, not critical "
            "(tmpfs and shared memory count as cache and cannot be reclaimed)."
        )
    elif a.thrashing:
        text = (
            f"Thrashing: stalled on memory {format_ratio(m.memory_stalled_ratio)} of the last "
            f"5 min, at {ratio} of its {limit} limit"
        )
    elif a.oom_kills >= a.thresholds.oom_crashloop_kills:
        text = f"OOM-killed {a.oom_kills} times in the look-back; {ratio} of its {limit} limit now"
    else:
        held = format_duration(a.thresholds.for_duration_seconds)
        text = f"{ratio} of its {limit} limit for {held} or more" + (
            f", {format_rate(m.growth_bytes_per_second)}" if growing else ", steady"
        )
    return text + _driver(a, growing=growing) + "."


def _driver(a: Assessment, *, growing: bool) -> str:
    ws, rss, cache = a.memory.working_set_bytes, a.memory.rss_bytes, a.active_cache_bytes
    if not ws or rss is None:
        return ""
    if rss >= DRIVER_SHARE * ws:
        return ", RSS-driven: likely a leak" if growing else ", RSS-driven"
    if cache is not None and cache >= DRIVER_SHARE * ws:
        return ", active page cache"
    return ""


def _no_limit(a: Assessment) -> str:
    m = a.memory
    text = f"No memory limit; working set {format_bytes(m.working_set_bytes)}"
    if a.thrashing:
        text += f", stalled on memory {format_ratio(m.memory_stalled_ratio)} of the last 5 min"
    if a.oom_kills:
        text += f", OOM-killed {a.oom_kills} times in the look-back (by its node)"
    return text + "."
