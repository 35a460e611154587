"""One container's memory over time, as a PNG.

What this chart must make obvious is the product's one idea: the kernel OOM-kills a container
when its *working set* reaches the limit, not when *usage* does. So the working set is the
heavy line, usage is dashed, and the gap between them (page cache the kernel reclaims first) is
shaded and named. Pure: values in, PNG bytes out, no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MultipleLocator
from matplotlib.transforms import blended_transform_factory

from bot.model import ContainerRef, History, OomKill
from bot.oom import kill_times
from bot.render.canvas import (
    BLUE,
    FOOTNOTE,
    GREEN,
    GREY,
    INK,
    NOTE_PT,
    ORANGE,
    PURPLE,
    SKY,
    TEXT_PT,
    TITLE_PT,
    VERMILLION,
    WIDTH_PX,
    FloatArray,
    Unit,
    figure_height_px,
    figure_of,
    fit_legend,
    footnote,
    fx,
    fy,
    heading,
    points,
    render_png,
    reused_figure,
    short_bytes,
    text_height_px,
    text_renderer,
    time_zone,
    unit_for,
)
from bot.render.series import (
    aligned,
    arrays,
    break_lines,
    data_start,
    date_numbers,
    moment_text,
    range_text,
    value_before,
    zone_label,
)
from bot.units import MIB

RECLAIMABLE_LABEL = "reclaimable cache"
# Above this many kills in range, markers stay but their "OOM" labels would overlap.
MAX_KILL_LABELS = 8
# A reclaimable band thinner than this share of the y axis throughout is not drawn.
VISIBLE_BAND_RATIO = 0.03
# Axis left after the range's end, as a share of it, when a kill is marked right there.
KILL_END_PAD_RATIO = 0.02


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
    "working_set": _Style("working set", BLUE, 3.2, zorder=6),
    "usage": _Style("usage", ORANGE, 2.0, (0, (5, 3)), zorder=5),
    "rss": _Style("RSS", GREEN, 1.6),
    "cache": _Style("page cache", PURPLE, 2.0, (0, (1, 1.2)), zorder=3),
    "swap": _Style("swap", SKY, 1.4, (0, (3, 1, 1, 1)), zorder=3),
}


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
    # Kills whose time is only bounded (seen at a scrape, or between two): hollow rings.
    approximate_kill_markers: Line2D | None = None
    kill_labels: list[Text] = field(default_factory=list)
    message: Text | None = None
    legend_rows: int = 0


def _headline(ref: ContainerRef) -> str:
    prefix = f"{ref.cluster}:" if ref.cluster else ""
    return f"{prefix}{ref.namespace}/{ref.pod} · {ref.container}"


def _kill_times(
    kills: Iterable[OomKill], ref: ContainerRef, start: float, end: float
) -> tuple[list[float], list[float]]:
    """Unix times of `ref`'s kills inside [start, end], each once: (exact, approximate)."""
    exact, approximate = kill_times(kills, ref, seen_at=end)
    return (
        [t for t in exact if start <= t <= end],
        [t for t in approximate if start <= t <= end],
    )


def _level_labels(
    axes: Axes, levels: list[tuple[float, str, str]], y_top: float, height_px: float
) -> list[Text]:
    """Labels for horizontal lines, in the right margin at the line's end: never over data.
    `levels` are (y, text, colour); labels closer than a line of text are pushed apart."""
    fig = figure_of(axes)
    assert isinstance(fig, Figure)
    transform = blended_transform_factory(axes.transAxes, axes.transData)
    per_px = y_top / max(height_px, 1.0)
    minimum = text_height_px(fig, TEXT_PT) * per_px
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
                fontsize=points(fig, TEXT_PT),
                fontweight="bold",
                color=colour,
                clip_on=False,
            )
        )
    return texts


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
    kill_times: list[float]  # exact: lines break there
    approximate_kill_times: list[float]  # only bounded: a break there could be wrong

    def line(self, times: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Data ready to plot: gaps and kills broken, x as dates, y in the chart's unit."""
        times, values = break_lines(times, values, self.step_seconds, self.kill_times)
        return date_numbers(times), values / self.scale


def _present_series(
    history: History, ref: ContainerRef
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """The figures that have data. Swap that is zero throughout (most nodes) is absence."""
    found = {}
    for name in _STYLES:
        times, values = arrays(history.of(ref, name))
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
        _, upper = frame.line(ws_times, aligned(ws_times, history.of(ref, "usage")))
        gap = upper - lower
        if not np.any(gap > VISIBLE_BAND_RATIO * frame.y_top):
            return  # a band nobody can see would still take a legend entry
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
        levels.append((y, f"{name} {short_bytes(limit_bytes)}", INK))
    else:
        levels.append((frame.y_top, "no limit", VERMILLION))
    if request_bytes and request_bytes != limit_bytes:
        y = request_bytes / frame.scale
        drawing.request_line = frame.axes.axhline(
            y, color=GREY, linewidth=1.2, linestyle=(0, (6, 3)), zorder=4
        )
        levels.append((y, f"request {short_bytes(request_bytes)}", GREY))
    return levels


def _style_axes(frame: _Frame, unit: Unit, history: History, timezone: str) -> None:
    """y in MiB or GiB on a binary ladder; x in the viewer's time zone, named."""
    axes, zone = frame.axes, time_zone(timezone)
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
    fig = figure_of(axes)
    assert isinstance(fig, Figure)
    axes.set_xlabel(
        zone_label(timezone, history.start, history.end, zone),
        color=GREY,
        fontsize=points(fig, NOTE_PT),
    )
    axes.tick_params(labelsize=points(fig, TEXT_PT), colors=INK)
    axes.grid(True, color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _kill_heights(
    frame: _Frame,
    moments: list[float],
    limit_bytes: int | None,
    working_set: tuple[FloatArray, FloatArray] | None,
) -> list[float]:
    """Where each kill's marker sits: on the limit; without one, on the last working set
    before the kill."""
    heights = []
    for moment in moments:
        before = value_before(*working_set, moment) if working_set and not limit_bytes else None
        heights.append((limit_bytes or before or frame.top_bytes) / frame.scale)
    return heights


def _kills_label(count: int, approximate: bool) -> str:
    label = "OOM kill" if count == 1 else f"{count} OOM kills"
    return label + (" (time approximate)" if approximate else "")


def _plot_kills(
    frame: _Frame,
    limit_bytes: int | None,
    working_set: tuple[FloatArray, FloatArray] | None,
    drawing: MemoryDrawing,
) -> None:
    """A cross on the limit where the working set met it, a dotted line down; "OOM" above
    each when there are few enough to label apart. A kill known only to have happened by
    some moment is a hollow ring there, its line fainter: counted, not pinpointed."""
    exact, approximate = frame.kill_times, frame.approximate_kill_times
    axes = frame.axes
    many = len(exact) + len(approximate) > MAX_KILL_LABELS
    for moments, alpha in ((exact, 0.85), (approximate, 0.45)):
        for moment in moments:
            axes.axvline(
                float(date_numbers(np.array([moment]))[0]),
                color=VERMILLION,
                linewidth=0.9 if many else 1.2,
                linestyle=(0, (2, 2)),
                alpha=0.5 * alpha if many else alpha,
                zorder=3,
            )
    if approximate:
        (drawing.approximate_kill_markers,) = axes.plot(
            date_numbers(np.array(approximate, dtype=np.float64)),
            _kill_heights(frame, approximate, limit_bytes, working_set),
            linestyle="none",
            marker="o",
            markersize=10 if many else 13,
            markerfacecolor="white",
            markeredgecolor=VERMILLION,
            markeredgewidth=2.2,
            zorder=9,
            label=_kills_label(len(approximate), approximate=True),
        )
    if not exact:
        return
    xs = date_numbers(np.array(exact, dtype=np.float64))
    (drawing.kill_markers,) = axes.plot(
        xs,
        _kill_heights(frame, exact, limit_bytes, working_set),
        linestyle="none",
        marker="X",
        markersize=9 if many else 12,
        color=VERMILLION,
        markeredgecolor="white",
        markeredgewidth=1.0,
        zorder=10,
        label=_kills_label(len(xs), approximate=False),
    )
    apart = len(xs) < 2 or float(np.min(np.diff(xs))) > (frame.x_end - frame.x_start) / 30
    if many or not apart:
        return
    fig = figure_of(axes)
    assert isinstance(fig, Figure)
    for x in xs:
        drawing.kill_labels.append(
            axes.annotate(
                "OOM",
                (float(x), frame.y_top),
                xytext=(0, -2),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=points(fig, TEXT_PT),
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
    handles.extend(m for m in (drawing.kill_markers, drawing.approximate_kill_markers) if m)
    return handles


def _widest_tick_px(fig: Figure, unit: Unit, frame: _Frame) -> float:
    """The width of the y axis' longest tick label ("192 MiB"), to leave it room."""
    step = unit.ticks(frame.top_bytes)
    labels = [unit.label(step * k) for k in range(int(frame.y_top // step) + 1)]
    size = FontProperties(size=points(fig, TEXT_PT))
    renderer = text_renderer(fig)
    widths = [
        renderer.get_text_width_height_descent(t, size, ismath=False)[0]  # type: ignore[no-untyped-call]
        for t in labels
    ]
    return float(max(widths))


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
    zone = time_zone(timezone)
    axes = fig.add_axes((0.1, 0.2, 0.8, 0.7))  # placed for real once the legend is sized
    start, end = history.start.timestamp(), history.end.timestamp()
    present = _present_series(history, ref)
    peaks = [float(np.nanmax(values)) for _, values in present.values()]
    top_bytes = max([*peaks, limit_bytes or 0, request_bytes or 0]) or 256 * MIB
    unit = unit_for(top_bytes)
    exact_kills, approximate_kills = _kill_times(kills, ref, start, end)
    shown_start, data_from = data_start(
        start, end, present, [*exact_kills, *approximate_kills], history.step_seconds
    )
    # A kill marked at the range's very end (when it was seen) would be cut in half.
    last_kill = max([*exact_kills, *approximate_kills], default=start)
    shown_end = end + KILL_END_PAD_RATIO * (end - shown_start) if end - last_kill < 60 else end
    x_start, x_end = (
        float(v) for v in date_numbers(np.array([shown_start, shown_end], dtype=np.float64))
    )
    frame = _Frame(
        axes=axes,
        scale=float(unit.size),
        top_bytes=top_bytes,
        y_top=top_bytes * 1.14 / unit.size,
        x_start=x_start,
        x_end=x_end,
        step_seconds=history.step_seconds,
        kill_times=exact_kills,
        approximate_kill_times=approximate_kills,
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
            fontsize=points(fig, TITLE_PT),
            color=GREY,
        )

    # Title, subtitle, legend, footnote: all outside the plot, never over the data.
    facts = [range_text(history.start, history.end, zone)]
    if data_from is not None:
        facts.append(f"data from {moment_text(data_from, history.end, zone)}")
    facts.append(f"limit {short_bytes(limit_bytes)}" if limit_bytes else "no limit")
    if request_bytes:
        facts.append(f"request {short_bytes(request_bytes)}")
    # Every kill counts, timed or not: the message that tells them says as many.
    if exact_kills or approximate_kills:
        count = len(exact_kills) + len(approximate_kills)
        facts.append(f"{count} OOM kill{'' if count == 1 else 's'}")
        if approximate_kills:
            facts[-1] += f" ({len(approximate_kills)} approximate)"
    top_px = heading(fig, title or _headline(ref), " · ".join(facts)) + 14
    note_px = footnote(
        fig,
        FOOTNOTE
        + (
            "; shaded: page cache the kernel reclaims first."
            if drawing.reclaimable is not None
            else "."
        ),
    )
    drawing.legend_rows, legend_px = fit_legend(fig, _legend_handles(drawing), note_px + 6)

    # The plot gets what is left: x ticks and label above the legend, y ticks left, level
    # labels right.
    axis_px = text_height_px(fig, TEXT_PT) + text_height_px(fig, NOTE_PT) + 16
    bottom_px = note_px + 6 + legend_px + 10 + axis_px
    plot_height_px = figure_height_px(fig) - bottom_px - top_px
    drawing.level_labels = _level_labels(axes, levels, frame.y_top, plot_height_px)
    renderer = text_renderer(fig)
    right_px = 16 + max(
        [10.0, *(t.get_window_extent(renderer).width + 12 for t in drawing.level_labels)]
    )
    left_px = 20 + _widest_tick_px(fig, unit, frame)
    axes.set_position(
        (
            fx(fig, left_px),
            fy(fig, bottom_px),
            1 - fx(fig, left_px + right_px),
            1 - fy(fig, bottom_px + top_px),
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
    width_px: int = WIDTH_PX,
    height_px: int = 560,
) -> bytes:
    """One container's memory over `history`'s range, as a PNG.

    Working set (heavy), usage (dashed), RSS, page cache and swap (when non-zero); the
    reclaimable band between usage and working set; limit and request as labelled lines; the
    OOM kills of `ref` inside the range as red crosses, those without an exact time as hollow
    rings at the latest moment they can have happened (`bot.oom.kill_times`). Times are shown in
    the IANA `timezone`; `title` replaces the `namespace/pod · container` headline.
    """
    fig = reused_figure(width_px, height_px)
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
    return render_png(fig)
