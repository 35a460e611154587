"""A container's series on a time axis, ready to draw: sorted arrays, lines broken where the
container restarted or scrapes are missing, matplotlib date numbers, where the data begins,
and how the range and its times read in words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib import dates as mdates

from bot.render.canvas import FloatArray

# A gap longer than this many steps is a restart or missing scrapes: not joined by a line.
GAP_STEPS = 3
# Data that begins later than this share of the range into it (a pod younger than the range)
# starts the axis just before its first sample: hours of empty axis would read as "no
# memory used" and squeeze the pod's own story into a corner.
LATE_DATA_RATIO = 0.05
# How much axis to leave before that first sample, as a share of what is shown after it.
LATE_DATA_PAD_RATIO = 0.03


def arrays(points: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    """(time, value) points as two arrays in time order."""
    if not points:
        empty: FloatArray = np.empty(0, dtype=np.float64)
        return empty, empty
    data = np.asarray(points, dtype=np.float64)
    order = np.argsort(data[:, 0], kind="stable")
    return data[order, 0], data[order, 1]


def break_lines(
    times: FloatArray, values: FloatArray, step_seconds: float, breaks: Sequence[float] = ()
) -> tuple[FloatArray, FloatArray]:
    """Insert a NaN inside every gap longer than GAP_STEPS steps, and at every kill between
    two samples, so no line bridges a restart or an outage."""
    if times.size < 2:
        return times, values
    at: set[int] = set()
    if step_seconds > 0:
        at.update(int(i) + 1 for i in np.nonzero(np.diff(times) > GAP_STEPS * step_seconds)[0])
    for moment in breaks:
        index = int(np.searchsorted(times, moment, side="left"))
        if 0 < index < times.size:
            at.add(index)
    if not at:
        return times, values
    where = np.array(sorted(at), dtype=np.intp)
    middles = (times[where - 1] + times[where]) / 2
    return np.insert(times, where, middles), np.insert(values, where, np.nan)


# matplotlib.dates ships no annotations, hence the ignore.
EPOCH_DAYS = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def date_numbers(unix_seconds: FloatArray) -> FloatArray:
    """Unix seconds to matplotlib date numbers (days since matplotlib's epoch, UTC)."""
    return unix_seconds / 86400.0 + EPOCH_DAYS


def aligned(times: FloatArray, other: Sequence[tuple[float, float]]) -> FloatArray:
    """`other`'s values at `times`; NaN where `other` has no sample at that instant."""
    lookup = dict(other)
    return np.array([lookup.get(float(t), np.nan) for t in times], dtype=np.float64)


def value_before(times: FloatArray, values: FloatArray, moment: float) -> float | None:
    index = int(np.searchsorted(times, moment, side="right")) - 1
    while index >= 0:
        if not math.isnan(values[index]):
            return float(values[index])
        index -= 1
    return None


def data_start(
    start: float,
    end: float,
    present: dict[str, tuple[FloatArray, FloatArray]],
    kill_moments: Sequence[float],
    step_seconds: float,
) -> tuple[float, float | None]:
    """Where the x axis starts, and when the data begins if that is well after `start`
    (None when the data covers the range)."""
    firsts = [float(times[0]) for times, _ in present.values()] + list(kill_moments)
    first = min(firsts, default=start)
    if first - start <= LATE_DATA_RATIO * (end - start):
        return start, None
    pad = max(2 * step_seconds, LATE_DATA_PAD_RATIO * (end - first))
    return max(start, first - pad), first


def moment_text(moment: float, end: datetime, zone: ZoneInfo) -> str:
    """A time in the subtitle: "14:02", with the day when it is not the range's last."""
    when = datetime.fromtimestamp(moment, tz=zone)
    same_day = when.date() == end.astimezone(zone).date()
    return f"{when:%H:%M}" if same_day else f"{when:%a %d %b %H:%M}"


def range_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.date() == b.date():
        return f"{a:%a %d %b %Y, %H:%M}–{b:%H:%M} {b.tzname()}"
    if a.tzname() == b.tzname():
        return f"{a:%a %d %b %H:%M} – {b:%a %d %b %Y %H:%M} {b.tzname()}"
    return f"{a:%a %d %b %H:%M %Z} – {b:%a %d %b %Y %H:%M %Z}"


def zone_label(name: str, start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """ "time (Europe/Berlin, CET)": the IANA name, and the abbreviation(s) in the range."""
    names = [start.astimezone(zone).tzname(), end.astimezone(zone).tzname()]
    shown = [n for n in dict.fromkeys(names) if n and n != name]
    return f"time ({name}{', ' + '/'.join(shown) if shown else ''})"
