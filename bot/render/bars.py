"""Compact pictures made of characters: a memory bar and a sparkline."""

from __future__ import annotations

from bot.analysis import Assessment

SPARKS = "▁▂▃▄▅▆▇█"
RSS, ACTIVE, RECLAIMABLE, FREE = "█", "▓", "░", "·"


def memory_bar(a: Assessment, width: int = 40) -> str:
    """RSS | active cache | reclaimable cache | headroom, to scale of the limit.

    Working set = the solid part; what the kernel would drop first is the light part.
    """
    m = a.memory
    if not m.limit_bytes or m.working_set_bytes is None:
        return ""
    scale = width / m.limit_bytes
    rss = m.rss_bytes if m.rss_bytes is not None else m.working_set_bytes
    rss = min(rss, m.working_set_bytes)
    cells_ws = min(width, round(m.working_set_bytes * scale))
    cells_rss = min(cells_ws, round(rss * scale))
    cells_reclaimable = min(width - cells_ws, round((a.reclaimable_bytes or 0) * scale))
    cells_free = width - cells_ws - cells_reclaimable
    return (
        RSS * cells_rss
        + ACTIVE * (cells_ws - cells_rss)
        + RECLAIMABLE * cells_reclaimable
        + FREE * cells_free
    )


BAR_LEGEND = f"{RSS} RSS  {ACTIVE} active cache  {RECLAIMABLE} reclaimable cache  {FREE} free"


def sparkline(values: list[float], width: int = 32, ceiling: float | None = None) -> str:
    """The shape of a series in `width` characters; `ceiling` (the limit) is the top."""
    if not values:
        return ""
    count = min(width, len(values))
    # Each character shows the peak of its slice: a spike must not vanish in an average.
    buckets = [
        max(values[i * len(values) // count : (i + 1) * len(values) // count]) for i in range(count)
    ]
    top = ceiling or max(buckets) or 1.0
    levels = len(SPARKS) - 1
    return "".join(SPARKS[min(levels, max(0, round(v / top * levels)))] for v in buckets)
