"""The verdict in plain words: a function of the assessment, computed when a message needs it.

Pure and cheap, but not free: a check judges every container and shows a few, so only the
shown ones pay for their sentence.
"""

from __future__ import annotations

from bot.analysis import FLAT_GROWTH_BYTES_PER_SECOND, Assessment
from bot.model import Verdict
from bot.units import format_bytes, format_duration, format_rate, format_ratio


def explain(a: Assessment) -> str:
    if a.verdict is Verdict.NO_DATA:
        return (
            "No working-set data: the container is not running now, or the kubelet's "
            "cAdvisor endpoint is not scraped."
        )
    if a.working_set_to_limit is None:
        return _no_limit(a) + _thrashing(a) + _kill_loop(a)
    if a.verdict in (Verdict.CRITICAL, Verdict.WARNING) and (
        a.racing or (a.sustained_working_set_to_limit or 0.0) >= a.thresholds.warning_ratio
    ):
        return _pressure(a) + _warm_up(a) + _thrashing(a) + _kill_loop(a)
    if a.verdict is Verdict.WARNING:  # thrashing or a kill loop, at a modest ratio
        return _level(a) + _thrashing(a) + _kill_loop(a) + _trend(a)
    if a.verdict is Verdict.CACHE_HEAVY:
        return _cache_heavy(a) + _thrashing(a)
    return _level(a) + _pending(a) + _trend(a) + _warm_up(a) + _thrashing(a)


def _level(a: Assessment) -> str:
    m = a.memory
    return (
        f"Working set {format_bytes(m.working_set_bytes)} is "
        f"{format_ratio(a.working_set_to_limit)} of the {format_bytes(m.limit_bytes)} limit."
    )


def _pending(a: Assessment) -> str:
    t, ratio = a.thresholds, a.working_set_to_limit or 0.0
    if ratio < t.warning_ratio:
        return ""
    return (
        f" It is {format_ratio(ratio)} right now, but has not stayed above "
        f"{format_ratio(t.warning_ratio)} for {format_duration(t.for_duration_seconds)} yet."
    )


def _cache_heavy(a: Assessment) -> str:
    m = a.memory
    return (
        f"Usage is at {format_ratio(a.usage_to_limit)} of the "
        f"{format_bytes(m.limit_bytes)} limit, but {format_bytes(a.reclaimable_bytes)} of it "
        f"is reclaimable page cache; the working set is {format_ratio(a.working_set_to_limit)}: "
        "no OOM risk. The kernel drops that cache before it kills anything, so an alert on "
        "usage here would be noise." + _pending(a)
    )


def _no_limit(a: Assessment) -> str:
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


def _pressure(a: Assessment) -> str:
    m, t = a.memory, a.thresholds
    ratio = a.working_set_to_limit or 0.0
    if a.racing and (a.sustained_working_set_to_limit or 0.0) < t.critical_ratio:
        return (
            f"Working set {format_bytes(m.working_set_bytes)} ({format_ratio(ratio)} of the "
            f"{format_bytes(m.limit_bytes)} limit) grows {format_rate(m.growth_bytes_per_second)}"
            f": it reaches the limit in {format_duration(a.seconds_to_limit)}, and the kernel "
            "OOM-kills it there." + _composition(a)
        )
    line = t.critical_ratio if ratio >= t.critical_ratio else t.warning_ratio
    text = (
        f"Working set {format_bytes(m.working_set_bytes)} is {format_ratio(ratio)} of the "
        f"{format_bytes(m.limit_bytes)} limit and has stayed above {format_ratio(line)} for "
        f"{format_duration(t.for_duration_seconds)}; the kernel OOM-kills at 100 %."
    )
    return text + _trend(a) + _composition(a)


def _composition(a: Assessment) -> str:
    """What the working set is made of: only anonymous memory is beyond reclaim."""
    m = a.memory
    if m.rss_bytes is None or a.active_cache_bytes is None or not m.working_set_bytes:
        return ""
    if a.cache_capped:
        return (
            f" But {format_bytes(a.active_cache_bytes)} of it is active page cache, which the "
            "kernel deactivates and reclaims before any OOM kill; what it cannot reclaim (RSS"
            f"{' and swap' if m.swap_bytes else ''}) is {format_ratio(a.non_reclaimable_to_limit)}"
            " of the limit, so this is a warning, not a page. Unless that cache is tmpfs or "
            "shared memory (emptyDir medium: Memory, /dev/shm): those count as cache but cannot "
            "be reclaimed."
        )
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


def _trend(a: Assessment) -> str:
    growth = a.memory.growth_bytes_per_second
    if growth is None:
        return ""
    window = format_duration(a.thresholds.trend_window_seconds)
    if abs(growth) < FLAT_GROWTH_BYTES_PER_SECOND:
        return f" Flat over the last {window}."
    if growth < 0:
        return f" Falling {format_rate(growth)} over the last {window}."
    if a.seconds_to_limit is not None and not a.warming_up:
        return (
            f" Growing {format_rate(growth)}: at this rate it reaches the limit in "
            f"{format_duration(a.seconds_to_limit)}."
        )
    return f" Growing {format_rate(growth)}."


def _warm_up(a: Assessment) -> str:
    if not a.warming_up:
        return ""
    t = a.thresholds
    young = a.age_seconds is not None and a.age_seconds < t.trend_min_age_seconds
    why = (
        f"it has run only {format_duration(a.age_seconds)}"
        if young
        else f"it is only at {format_ratio(a.working_set_to_limit)} of the limit"
    )
    return (
        f" At this rate it would reach the limit in {format_duration(a.seconds_to_limit)}, but "
        f"{why}: a warm-up, not a page. Growth pages once the container has run "
        f"{format_duration(t.trend_min_age_seconds)} and is at "
        f"{format_ratio(t.critical_time_to_limit_min_ratio)} of the limit or more."
    )


def _thrashing(a: Assessment) -> str:
    stalled = a.memory.memory_stalled_ratio
    if not a.thrashing or stalled is None:
        return ""
    return (
        f" It thrashes: stalled on memory {format_ratio(stalled)} of the last 5 min (PSI), "
        "the kernel reclaiming cache it needs again at once. The working set understates "
        "this; more memory, or less cache churn, is the fix."
    )


def _kill_loop(a: Assessment) -> str:
    if a.oom_kills < a.thresholds.oom_crashloop_kills:
        return ""
    return (
        f" OOM-killed {a.oom_kills} times in the look-back: a crash loop, however calm the "
        "figures look between two kills."
    )
