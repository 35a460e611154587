"""Charts as PNG bytes: one container's memory over time, and the digest's top containers.

Pure functions: values in, PNG bytes out, no network. matplotlib's object API on the Agg
canvas only, never pyplot: pyplot keeps global figure state and is not thread-safe, and the
bot renders from worker threads. A Figure built here is referenced by nothing global, so it is
freed with its last reference; `_render` also clears it explicitly.

What the memory chart must make obvious is the product's one idea: the kernel OOM-kills a
container when its *working set* reaches the limit, not when *usage* does. So the working set
is the heavy line, usage is dashed, and the gap between them (page cache the kernel reclaims
first) is shaded and named.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MultipleLocator
from matplotlib.transforms import blended_transform_factory

from bot.analysis import Assessment
from bot.model import ContainerRef, History, OomKill, Verdict
from bot.units import GIB, MIB, format_bytes, format_duration

DPI = 100
FOOTNOTE = "OOM kills follow the working set, not usage"
RECLAIMABLE_LABEL = "reclaimable cache (usage − working set)"
# A gap longer than this many steps is a restart or missing scrapes: not joined by a line.
GAP_STEPS = 3
# Above this many kills in range, markers stay but their "OOM" labels would overlap.
MAX_KILL_LABELS = 8
# Digest: characters of a container's name shown at most, and bar thickness.
LABEL_CHARS = 48
BAR_HEIGHT = 0.68

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
INK = "#222222"
GREY = "#6b6b6b"

BAND_COLOURS = {"ok": GREEN, "warning": ORANGE, "critical": VERMILLION}


@dataclass(frozen=True, slots=True)
class _Style:
    label: str
    colour: str
    width: float
    dashes: str | tuple[float, tuple[float, ...]] = "-"
    zorder: float = 4


# How each figure is drawn, in legend order: working set first, it is what OOM follows.
# Usage is dashed and lighter: it includes cache the kernel drops, OOM does not follow it.
_STYLES = {
    "working_set": _Style("working set (what OOM follows)", BLUE, 2.8, zorder=6),
    "usage": _Style("usage", ORANGE, 1.6, (0, (5, 3)), zorder=5),
    "rss": _Style("RSS", GREEN, 1.3),
    "cache": _Style("page cache", PURPLE, 1.7, (0, (1, 1.2)), zorder=3),
    "swap": _Style("swap", SKY, 1.1, (0, (3, 1, 1, 1)), zorder=3),
}

FloatArray = npt.NDArray[np.float64]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin"
        ) from None


def _figure(width_px: int, height_px: int) -> Figure:
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _render(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        # zlib level 3: smaller than the default 6 for these flat images, and 5 ms faster.
        fig.savefig(
            buffer,
            format="png",
            dpi=DPI,
            facecolor="white",
            metadata={"Software": None},
            pil_kwargs={"compress_level": 3},
        )
    finally:
        fig.clear()
    return buffer.getvalue()


def _renderer(fig: Figure) -> RendererAgg:
    """The Agg renderer, to measure text before placing things around it."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    renderer: RendererAgg = canvas.get_renderer()  # type: ignore[no-untyped-call]
    return renderer


def _fx(fig: Figure, pixels: float) -> float:
    """Horizontal pixels as a fraction of the figure: margins are set in pixels, like text."""
    return pixels / float(fig.get_size_inches()[0] * DPI)


def _fy(fig: Figure, pixels: float) -> float:
    return pixels / float(fig.get_size_inches()[1] * DPI)


def _fit_width(fig: Figure, text: Text, size: float, smallest: float) -> Text:
    """Shrink `text` from `size` until it fits the figure's width: narrow charts must not
    clip sentences."""
    renderer = _renderer(fig)
    room = fig.get_size_inches()[0] * DPI - 24
    text.set_fontsize(size)
    while text.get_window_extent(renderer).width > room and size > smallest:
        size -= 0.5
        text.set_fontsize(size)
    return text


def _heading(fig: Figure, title: str, subtitle: str) -> None:
    """Bold title and grey subtitle, top left, in the 66 px above the plot."""
    x = _fx(fig, 12)
    bold = fig.text(x, 1 - _fy(fig, 10), title, ha="left", va="top", color=INK)
    bold.set_fontweight("bold")
    _fit_width(fig, bold, 15, smallest=10)
    grey = fig.text(x, 1 - _fy(fig, 38), subtitle, ha="left", va="top", color=GREY)
    _fit_width(fig, grey, 11, smallest=8)


def _footnote(fig: Figure, text: str) -> None:
    note = fig.text(_fx(fig, 12), _fy(fig, 7), text, ha="left", va="bottom", color=GREY)
    note.set_fontstyle("italic")
    _fit_width(fig, note, 9, smallest=6.5)


def _short_bytes(value: float | None) -> str:
    """format_bytes without a useless ".0": "256 MiB", "1.50 GiB", "95.5 MiB"."""
    text = format_bytes(value)
    number, _, unit = text.partition(" ")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return f"{number} {unit}" if unit else number


# ---------------------------------------------------------------------------------------------
# Units


@dataclass(frozen=True, slots=True)
class _Unit:
    name: str
    size: int

    def ticks(self, top_bytes: float) -> float:
        """A tick step, in this unit, from a binary ladder: limits are usually powers of two."""
        top = max(top_bytes / self.size, 1e-9)
        ladder = [2.0**k for k in range(-4, 16)]
        return next((step for step in ladder if top / step <= 7), ladder[-1])

    def label(self, value: float, _position: float | None = None) -> str:
        if value == 0:
            return "0"
        return f"{value:g} {self.name}"


def _unit_for(top_bytes: float) -> _Unit:
    return _Unit("GiB", GIB) if top_bytes >= 1.5 * GIB else _Unit("MiB", MIB)


# ---------------------------------------------------------------------------------------------
# Series preparation


def _arrays(points: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    if not points:
        empty: FloatArray = np.empty(0, dtype=np.float64)
        return empty, empty
    data = np.asarray(points, dtype=np.float64)
    order = np.argsort(data[:, 0], kind="stable")
    return data[order, 0], data[order, 1]


def _break_lines(
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
_EPOCH_DAYS = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def _days(unix_seconds: FloatArray) -> FloatArray:
    """Unix seconds to matplotlib date numbers (days since matplotlib's epoch, UTC)."""
    return unix_seconds / 86400.0 + _EPOCH_DAYS


def _aligned(times: FloatArray, other: Sequence[tuple[float, float]]) -> FloatArray:
    """`other`'s values at `times`; NaN where `other` has no sample at that instant."""
    lookup = dict(other)
    return np.array([lookup.get(float(t), np.nan) for t in times], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Memory chart


@dataclass(slots=True)
class MemoryDrawing:
    """What `_draw_memory` drew, for tests to inspect. Line y data are in units of
    `unit_bytes` (MiB or GiB); x data are matplotlib date numbers."""

    axes: Axes
    unit_bytes: int
    lines: dict[str, Line2D] = field(default_factory=dict)
    reclaimable: PolyCollection | None = None
    limit_line: Line2D | None = None
    request_line: Line2D | None = None
    level_labels: list[Text] = field(default_factory=list)
    kill_markers: Line2D | None = None
    kill_labels: list[Text] = field(default_factory=list)
    message: Text | None = None
    legend_rows: int = 0


def _headline(ref: ContainerRef) -> str:
    prefix = f"{ref.cluster}:" if ref.cluster else ""
    return f"{prefix}{ref.namespace}/{ref.pod} · {ref.container}"


def _range_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.date() == b.date():
        return f"{a:%a %d %b %Y, %H:%M}–{b:%H:%M} {b.tzname()}"
    if a.tzname() == b.tzname():
        return f"{a:%a %d %b %H:%M} – {b:%a %d %b %Y %H:%M} {b.tzname()}"
    return f"{a:%a %d %b %H:%M %Z} – {b:%a %d %b %Y %H:%M %Z}"


def _zone_label(name: str, start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """ "time (Europe/Berlin, CET)": the IANA name, and the abbreviation(s) in the range."""
    names = [start.astimezone(zone).tzname(), end.astimezone(zone).tzname()]
    shown = [n for n in dict.fromkeys(names) if n and n != name]
    return f"time ({name}{', ' + '/'.join(shown) if shown else ''})"


def _kill_times(
    kills: Iterable[OomKill], ref: ContainerRef, start: float, end: float
) -> list[float]:
    """Unix times of `ref`'s kills inside [start, end], each once."""
    found = {k.finished_at.timestamp() for k in kills if k.ref == ref and k.finished_at}
    return sorted(t for t in found if start <= t <= end)


def _value_before(times: FloatArray, values: FloatArray, moment: float) -> float | None:
    index = int(np.searchsorted(times, moment, side="right")) - 1
    while index >= 0:
        if not math.isnan(values[index]):
            return float(values[index])
        index -= 1
    return None


def _level_labels(
    axes: Axes, levels: list[tuple[float, str, str]], y_top: float, height_px: float
) -> list[Text]:
    """Labels for horizontal lines, in the right margin at the line's end: never over data.
    `levels` are (y, text, colour); labels closer than a line of text are pushed apart."""
    transform = blended_transform_factory(axes.transAxes, axes.transData)
    per_px = y_top / max(height_px, 1.0)
    minimum = 17 * per_px
    placed: list[float] = []
    texts = []
    for y, text, colour in sorted(levels, reverse=True):
        at = y if not placed else min(y, placed[-1] - minimum)
        placed.append(at)
        texts.append(
            axes.text(
                1.008,
                at,
                text,
                transform=transform,
                ha="left",
                va="center",
                fontsize=10,
                fontweight="bold",
                color=colour,
                clip_on=False,
            )
        )
    return texts


def _fit_legend(fig: Figure, handles: list[Artist], bottom_px: float) -> int:
    """A legend centred below the plot in as few rows as fit the width; returns the rows."""
    if not handles:
        return 0
    renderer = _renderer(fig)
    width = fig.get_size_inches()[0] * DPI
    columns = len(handles)
    while True:
        legend = fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, _fy(fig, bottom_px)),
            ncol=columns,
            frameon=False,
            fontsize=10 if width >= 1000 else 9,
            handlelength=2.4,
            columnspacing=1.4,
            borderaxespad=0.0,
            borderpad=0.0,
        )
        if columns == 1 or legend.get_window_extent(renderer).width <= width - 16:
            return math.ceil(len(handles) / columns)
        legend.remove()
        columns = math.ceil(len(handles) / (math.ceil(len(handles) / columns) + 1))


@dataclass(frozen=True, slots=True)
class _Frame:
    """What the steps of one memory chart share: where things are, in which units."""

    axes: Axes
    scale: float  # bytes per y unit
    top_bytes: float  # the highest value or level: the y axis leaves room above it
    y_top: float  # in y units
    x_start: float  # matplotlib date numbers
    x_end: float
    step_seconds: float
    kill_times: list[float]

    def line(self, times: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Data ready to plot: gaps and kills broken, x as dates, y in the chart's unit."""
        times, values = _break_lines(times, values, self.step_seconds, self.kill_times)
        return _days(times), values / self.scale


def _present_series(
    history: History, ref: ContainerRef
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """The figures that have data. Swap that is zero throughout (most nodes) is absence."""
    found = {}
    for name in _STYLES:
        times, values = _arrays(history.of(ref, name))
        if not times.size or not np.any(np.isfinite(values)):
            continue
        if name == "swap" and not np.any(values > 0):
            continue
        found[name] = (times, values)
    return found


def _plot_series(
    frame: _Frame,
    history: History,
    ref: ContainerRef,
    present: dict[str, tuple[FloatArray, FloatArray]],
    drawing: MemoryDrawing,
) -> None:
    for name, style in _STYLES.items():
        if name in present:
            (drawing.lines[name],) = frame.axes.plot(
                *frame.line(*present[name]),
                label=style.label,
                color=style.colour,
                linewidth=style.width,
                linestyle=style.dashes,
                zorder=style.zorder,
            )
    # Reclaimable cache: the band between working set and usage, on the working set's clock.
    if "usage" in present and "working_set" in present:
        ws_times, ws_values = present["working_set"]
        days, lower = frame.line(ws_times, ws_values)
        _, upper = frame.line(ws_times, _aligned(ws_times, history.of(ref, "usage")))
        drawing.reclaimable = frame.axes.fill_between(
            days,
            lower,
            upper,
            where=np.nan_to_num(upper, nan=-1.0) > np.nan_to_num(lower, nan=0.0),
            interpolate=True,
            facecolor=ORANGE,
            alpha=0.2,
            linewidth=0,
            zorder=2,
        )


def _plot_levels(
    frame: _Frame, limit_bytes: int | None, request_bytes: int | None, drawing: MemoryDrawing
) -> list[tuple[float, str, str]]:
    """Limit and request lines; returns their labels (y, text, colour) for the right margin."""
    levels: list[tuple[float, str, str]] = []
    if limit_bytes:
        y = limit_bytes / frame.scale
        drawing.limit_line = frame.axes.axhline(y, color=INK, linewidth=1.6, zorder=4)
        name = "limit = request" if limit_bytes == request_bytes else "limit"
        levels.append((y, f"{name} {_short_bytes(limit_bytes)}", INK))
    else:
        levels.append((frame.y_top, "no limit", VERMILLION))
    if request_bytes and request_bytes != limit_bytes:
        y = request_bytes / frame.scale
        drawing.request_line = frame.axes.axhline(
            y, color=GREY, linewidth=1.2, linestyle=(0, (6, 3)), zorder=4
        )
        levels.append((y, f"request {_short_bytes(request_bytes)}", GREY))
    return levels


def _style_axes(frame: _Frame, unit: _Unit, history: History, timezone: str) -> None:
    """y in MiB or GiB on a binary ladder; x in the viewer's time zone, named."""
    axes, zone = frame.axes, _zone(timezone)
    axes.set_ylim(0, frame.y_top)
    axes.yaxis.set_major_locator(MultipleLocator(unit.ticks(frame.top_bytes)))
    axes.yaxis.set_major_formatter(FuncFormatter(unit.label))
    axes.set_xlim(frame.x_start, frame.x_end)
    # matplotlib.dates ships no annotations: these two calls are untyped.
    locator = mdates.AutoDateLocator(tz=zone, minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator,
        tz=zone,
        formats=["%Y", "%b", "%a %d %b", "%H:%M", "%H:%M", "%H:%M:%S"],
        zero_formats=["", "%Y", "%b %Y", "%a %d %b", "%H:%M", "%H:%M"],
        show_offset=False,
    )
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)
    axes.set_xlabel(_zone_label(timezone, history.start, history.end, zone), color=GREY)
    axes.tick_params(labelsize=10, colors=INK)
    axes.grid(True, color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _plot_kills(
    frame: _Frame,
    limit_bytes: int | None,
    working_set: tuple[FloatArray, FloatArray] | None,
    drawing: MemoryDrawing,
) -> None:
    """A cross on the limit where the working set met it, a dotted line down; "OOM" above
    each when there are few enough to label apart."""
    if not frame.kill_times:
        return
    axes, many = frame.axes, len(frame.kill_times) > MAX_KILL_LABELS
    ys = []
    for moment in frame.kill_times:
        # Without a limit, the cross sits on the last working set before the kill.
        before = _value_before(*working_set, moment) if working_set and not limit_bytes else None
        ys.append((limit_bytes or before or frame.top_bytes) / frame.scale)
    xs = _days(np.array(frame.kill_times, dtype=np.float64))
    for x in xs:
        axes.axvline(
            float(x),
            color=VERMILLION,
            linewidth=0.9 if many else 1.2,
            linestyle=(0, (2, 2)),
            alpha=0.5 if many else 0.85,
            zorder=3,
        )
    (drawing.kill_markers,) = axes.plot(
        xs,
        ys,
        linestyle="none",
        marker="X",
        markersize=9 if many else 12,
        color=VERMILLION,
        markeredgecolor="white",
        markeredgewidth=1.0,
        zorder=10,
        label="OOM kill" if len(xs) == 1 else f"OOM kill ({len(xs)} in range)",
    )
    apart = len(xs) < 2 or float(np.min(np.diff(xs))) > (frame.x_end - frame.x_start) / 30
    if many or not apart:
        return
    for x in xs:
        drawing.kill_labels.append(
            axes.annotate(
                "OOM",
                (float(x), frame.y_top),
                xytext=(0, -2),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=10,
                fontweight="bold",
                color=VERMILLION,
                zorder=10,
                bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none"},
            )
        )


def _legend_handles(drawing: MemoryDrawing) -> list[Artist]:
    handles: list[Artist] = []
    for name in _STYLES:
        if name in drawing.lines:
            handles.append(drawing.lines[name])
        if name == "usage" and drawing.reclaimable is not None:
            handles.append(Patch(facecolor=ORANGE, alpha=0.3, label=RECLAIMABLE_LABEL))
    if drawing.kill_markers is not None:
        handles.append(drawing.kill_markers)
    return handles


def _draw_memory(
    fig: Figure,
    history: History,
    ref: ContainerRef,
    *,
    limit_bytes: int | None,
    request_bytes: int | None,
    kills: Sequence[OomKill] = (),
    timezone: str = "UTC",
    title: str | None = None,
) -> MemoryDrawing:
    zone = _zone(timezone)
    axes = fig.add_axes((0.1, 0.2, 0.8, 0.7))  # placed for real once the legend is sized
    start, end = history.start.timestamp(), history.end.timestamp()
    present = _present_series(history, ref)
    peaks = [float(np.nanmax(values)) for _, values in present.values()]
    top_bytes = max([*peaks, limit_bytes or 0, request_bytes or 0]) or 256 * MIB
    unit = _unit_for(top_bytes)
    x_start, x_end = (float(v) for v in _days(np.array([start, end], dtype=np.float64)))
    frame = _Frame(
        axes=axes,
        scale=float(unit.size),
        top_bytes=top_bytes,
        y_top=top_bytes * 1.14 / unit.size,
        x_start=x_start,
        x_end=x_end,
        step_seconds=history.step_seconds,
        kill_times=_kill_times(kills, ref, start, end),
    )
    drawing = MemoryDrawing(axes=axes, unit_bytes=unit.size)
    _plot_series(frame, history, ref, present, drawing)
    levels = _plot_levels(frame, limit_bytes, request_bytes, drawing)
    _style_axes(frame, unit, history, timezone)
    _plot_kills(frame, limit_bytes, present.get("working_set"), drawing)
    if not present:
        drawing.message = axes.text(
            0.5,
            0.5,
            "no data in this range",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=16,
            color=GREY,
        )

    # Title, subtitle, legend, footnote: all outside the plot, never over the data.
    facts = [_range_text(history.start, history.end, zone)]
    facts.append(f"limit {_short_bytes(limit_bytes)}" if limit_bytes else "no limit")
    if request_bytes:
        facts.append(f"request {_short_bytes(request_bytes)}")
    if frame.kill_times:
        count = len(frame.kill_times)
        facts.append(f"{count} OOM kill{'' if count == 1 else 's'}")
    _heading(fig, title or _headline(ref), " · ".join(facts))
    _footnote(
        fig,
        FOOTNOTE
        + (
            "; the shaded band is page cache the kernel reclaims before any OOM kill."
            if drawing.reclaimable is not None
            else "."
        ),
    )
    drawing.legend_rows = _fit_legend(fig, _legend_handles(drawing), bottom_px=30)

    # The plot gets what is left: x ticks and label above the legend, level labels right.
    bottom_px = 30 + 22 * drawing.legend_rows + 54
    height_px = fig.get_size_inches()[1] * DPI - bottom_px - 70
    drawing.level_labels = _level_labels(axes, levels, frame.y_top, height_px)
    renderer = _renderer(fig)
    right_px = 16 + max(
        [10.0, *(t.get_window_extent(renderer).width + 12 for t in drawing.level_labels)]
    )
    axes.set_position(
        (
            _fx(fig, 74),
            _fy(fig, bottom_px),
            1 - _fx(fig, 74 + right_px),
            1 - _fy(fig, bottom_px + 70),
        )
    )
    return drawing


def memory_chart(
    history: History,
    ref: ContainerRef,
    *,
    limit_bytes: int | None,
    request_bytes: int | None,
    kills: Sequence[OomKill] = (),
    timezone: str = "UTC",
    title: str | None = None,
    width_px: int = 1200,
    height_px: int = 600,
) -> bytes:
    """One container's memory over `history`'s range, as a PNG.

    Working set (heavy), usage (dashed), RSS, page cache and swap (when non-zero); the
    reclaimable band between usage and working set; limit and request as labelled lines; the
    OOM kills of `ref` with `finished_at` inside the range as red crosses. Times are shown in
    the IANA `timezone`; `title` replaces the `namespace/pod · container` headline.
    """
    fig = _figure(width_px, height_px)
    _draw_memory(
        fig,
        history,
        ref,
        limit_bytes=limit_bytes,
        request_bytes=request_bytes,
        kills=kills,
        timezone=timezone,
        title=title,
    )
    return _render(fig)


# ---------------------------------------------------------------------------------------------
# Digest chart


@dataclass(slots=True)
class DigestDrawing:
    """What `_draw_digest` drew, top bar first, for tests to inspect."""

    axes: Axes | None
    labels: list[str] = field(default_factory=list)
    working_set_bars: PolyCollection | None = None
    usage_bars: PolyCollection | None = None
    bands: list[str] = field(default_factory=list)
    value_labels: list[Text] = field(default_factory=list)
    message: Text | None = None


def _shorten(text: str, width: int) -> str:
    """Cut the middle: a pod's workload prefix and its random suffix both identify it."""
    if len(text) <= width:
        return text
    keep = width - 1
    head = (keep + 1) // 2
    return text[:head] + "…" + text[len(text) - (keep - head) :]


def _digest_label(ref: ContainerRef, width: int = LABEL_CHARS) -> str:
    where = f"{ref.cluster}:" if ref.cluster else ""
    where += f"{ref.namespace}/{ref.pod}"
    suffix = " · " + _shorten(ref.container, 16)
    return _shorten(where, max(16, width - len(suffix))) + suffix


def _band(a: Assessment) -> str:
    """The bar's colour: the container's own thresholds, as its verdict used them."""
    ratio, t = a.working_set_to_limit or 0.0, a.thresholds
    if ratio >= t.critical_ratio or a.verdict is Verdict.CRITICAL:
        return "critical"  # the verdict also says critical when the limit is minutes away
    if ratio >= t.warning_ratio:
        return "warning"
    return "ok"


def _bar_shapes(positions: FloatArray, widths: FloatArray) -> list[FloatArray]:
    """Horizontal bars from x = 0, centred on each position, as polygons."""
    half = BAR_HEIGHT / 2
    return [
        np.array([(0.0, y - half), (w, y - half), (w, y + half), (0.0, y + half)])
        for y, w in zip(positions, widths, strict=True)
    ]


def bar_widths(bars: PolyCollection) -> list[float]:
    """The drawn length of each bar in a collection from `_bar_shapes`, top bar first."""
    return [float(np.max(np.asarray(path.vertices)[:, 0])) for path in bars.get_paths()]


def _lighter(colour: str, amount: float) -> tuple[float, float, float]:
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return (red + (1 - red) * amount, green + (1 - green) * amount, blue + (1 - blue) * amount)


def _percent(value: float, _position: float | None = None) -> str:
    return f"{value * 100:.0f} %" + (" limit" if abs(value - 1.0) < 1e-9 else "")


def _draw_digest(
    fig: Figure,
    assessments: Sequence[Assessment],
    *,
    warning_ratio: float,
    critical_ratio: float,
    top: int,
    title: str,
) -> DigestDrawing:
    limited = [a for a in assessments if a.working_set_to_limit is not None]
    chosen = sorted(
        limited,
        key=lambda a: (
            -(a.working_set_to_limit or 0.0),
            -(a.usage_to_limit or 0.0),
            _digest_label(a.memory.ref),
        ),
    )[: max(0, top)]

    unlimited = len(assessments) - len(limited)
    if chosen:
        subtitle = (
            f"top {len(chosen)} of {len(limited)} containers with a memory limit, by working set"
            f" / limit" + (f" ({unlimited} without a limit not shown)" if unlimited else "")
        )
    else:
        subtitle = (
            f"{len(assessments)} containers, none with a memory limit"
            if assessments
            else "no containers assessed"
        )
    _heading(fig, title, subtitle)
    if not chosen:
        message = fig.text(
            0.5,
            0.5,
            "no containers with a limit",
            ha="center",
            va="center",
            fontsize=16,
            color=GREY,
        )
        return DigestDrawing(axes=None, message=message)

    axes = fig.add_axes((0.3, 0.2, 0.5, 0.6))  # placed for real once labels are measured
    drawing = DigestDrawing(axes=axes, labels=[_digest_label(a.memory.ref) for a in chosen])
    positions = np.arange(len(chosen), dtype=np.float64)
    ws = np.array([a.working_set_to_limit or 0.0 for a in chosen], dtype=np.float64)
    usage = np.maximum(np.array([a.usage_to_limit or 0.0 for a in chosen], dtype=np.float64), ws)
    drawing.bands = [_band(a) for a in chosen]
    colours = [BAND_COLOURS[b] for b in drawing.bands]
    # Bars as two collections (usage behind, working set in front): barh's per-bar patches
    # cost ~20 ms for 30 rectangles.
    drawing.usage_bars = PolyCollection(
        _bar_shapes(positions, usage),
        facecolors=[_lighter(c, 0.65) for c in colours],
        edgecolors=[_lighter(c, 0.25) for c in colours],
        linewidths=0.8,
        zorder=2,
    )
    drawing.working_set_bars = PolyCollection(
        _bar_shapes(positions, ws), facecolors=colours, linewidths=0, zorder=3
    )
    axes.add_collection(drawing.usage_bars, autolim=False)
    axes.add_collection(drawing.working_set_bars, autolim=False)

    x_max = max(1.08, float(np.max(usage)) + 0.03, critical_ratio + 0.08)
    for y, w, u, a in zip(positions, ws, usage, chosen, strict=True):
        parts = [f"{w * 100:.0f} %"]
        if u - w >= 0.05:
            parts.append(f"usage {u * 100:.0f} %")
        if a.verdict is Verdict.CRITICAL and w < critical_ratio and a.seconds_to_limit:
            parts.append(f"limit in {format_duration(a.seconds_to_limit)}")
        text = " · ".join(parts)
        drawing.value_labels.append(
            axes.text(
                float(max(w, u)) + x_max * 0.006,
                float(y),
                text,
                va="center",
                ha="left",
                fontsize=10,
                color=INK,
                fontweight="bold" if w >= warning_ratio else "normal",
                clip_on=False,
                zorder=6,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
            )
        )

    _digest_thresholds(axes, warning_ratio, critical_ratio)
    names = _digest_axes(axes, drawing.labels, x_max)
    rows = _fit_legend(fig, _digest_legend(warning_ratio, critical_ratio), bottom_px=28)
    _footnote(fig, FOOTNOTE + ": a long light bar behind a short dark one is page cache, not risk.")

    # Names on the left take what they measure. The bars get the widest area that still lets
    # each value label, which starts at its own bar's end, end inside the figure.
    renderer = _renderer(fig)
    names_px = 20 + max(t.get_window_extent(renderer).width for t in names)
    room_px = fig.get_size_inches()[0] * DPI - names_px - 12
    bars_px = room_px - 40
    for label, w, u in zip(drawing.value_labels, ws, usage, strict=True):
        reach = float(max(w, u)) / x_max + 0.006
        needed = label.get_window_extent(renderer).width + 14
        bars_px = min(bars_px, (room_px - needed) / reach if reach > 0 else bars_px)
    bottom_px = 28 + 22 * rows + 30
    axes.set_position(
        (
            _fx(fig, names_px),
            _fy(fig, bottom_px),
            _fx(fig, max(bars_px, 120.0)),
            1 - _fy(fig, bottom_px + 84),
        )
    )
    return drawing


def _digest_thresholds(axes: Axes, warning_ratio: float, critical_ratio: float) -> None:
    """Dashed lines at the thresholds, labelled above the plot away from each other: the
    warning label ends at its line, the critical one starts at its line."""
    for ratio, name, colour, align in (
        (warning_ratio, "warning", ORANGE, "right"),
        (critical_ratio, "critical", VERMILLION, "left"),
    ):
        axes.axvline(ratio, color=colour, linewidth=1.4, linestyle=(0, (5, 3)), zorder=4)
        axes.annotate(
            f"{name} {ratio * 100:.0f} %",
            (ratio, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3 if align == "left" else -3, 4),
            textcoords="offset points",
            ha=align,
            va="bottom",
            fontsize=10,
            fontweight="bold",
            color=colour,
            annotation_clip=False,
        )
    axes.axvline(1.0, color=INK, linewidth=1.2, zorder=4)


def _digest_axes(axes: Axes, labels: list[str], x_max: float) -> list[Text]:
    """Percent x axis, container names at the left of their bars; returns the names."""
    # Names as plain texts, not tick labels: 15 ticks cost ~25 ms of tick machinery.
    axes.set_yticks([])
    names: list[Text] = [
        axes.annotate(
            label,
            (0.0, float(y)),
            xycoords=("axes fraction", "data"),
            xytext=(-6, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=10,
            family="DejaVu Sans Mono",
            color=INK,
            annotation_clip=False,
        )
        for y, label in enumerate(labels)
    ]
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlim(0, x_max)
    axes.xaxis.set_major_locator(MultipleLocator(0.2 if x_max <= 1.6 else 0.5))
    axes.xaxis.set_major_formatter(FuncFormatter(_percent))
    axes.tick_params(labelsize=10, colors=INK)
    axes.grid(True, axis="x", color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return names


def _digest_legend(warning_ratio: float, critical_ratio: float) -> list[Artist]:
    bands = {
        "ok": f"ok (< {warning_ratio * 100:.0f} %)",
        "warning": f"warning (≥ {warning_ratio * 100:.0f} %)",
        "critical": f"critical (≥ {critical_ratio * 100:.0f} % or limit near)",
    }
    handles: list[Artist] = [
        Patch(facecolor=BAND_COLOURS[band], label=f"working set: {text}")
        for band, text in bands.items()
    ]
    handles.append(
        Patch(
            facecolor=_lighter(GREY, 0.65),
            edgecolor=_lighter(GREY, 0.25),
            label="usage (incl. reclaimable cache)",
        )
    )
    return handles


def digest_chart(
    assessments: Sequence[Assessment],
    *,
    warning_ratio: float,
    critical_ratio: float,
    top: int = 15,
    title: str = "Memory digest: the containers closest to their limit",
    width_px: int = 1200,
    height_px: int | None = None,
) -> bytes:
    """The `top` containers by working set / limit as horizontal bars, as a PNG.

    Bars are coloured by band (ok / warning / critical at the given ratios; critical also when
    the verdict is, i.e. the limit is minutes away) with a lighter extension to usage / limit
    behind each. Containers without a limit are left out. `height_px` defaults to fit the bars.
    """
    shown = min(max(0, top), sum(1 for a in assessments if a.working_set_to_limit is not None))
    fig = _figure(width_px, height_px or max(320, 200 + 30 * shown))
    _draw_digest(
        fig,
        assessments,
        warning_ratio=warning_ratio,
        critical_ratio=critical_ratio,
        top=top,
        title=title,
    )
    return _render(fig)
