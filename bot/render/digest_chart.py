"""The digest's chart: the containers closest to their limit as horizontal bars, as a PNG.

Each bar is the working set / limit, coloured by the container's verdict, with usage / limit
as a lighter bar behind it: a long light bar behind a short dark one is page cache, not risk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MultipleLocator

from bot.analysis import Assessment
from bot.model import ContainerMemory, Verdict
from bot.render.canvas import (
    FOOTNOTE,
    GREEN,
    GREY,
    INK,
    ORANGE,
    SKY,
    TEXT_PT,
    TITLE_PT,
    VERMILLION,
    WIDTH_PX,
    FloatArray,
    figure_height_px,
    figure_of,
    figure_width_px,
    fit_legend,
    footnote,
    fx,
    fy,
    heading,
    lighter,
    new_figure,
    points,
    render_png,
    text_height_px,
    text_renderer,
)
from bot.units import format_duration

# Characters of a container's name shown at most.
LABEL_CHARS = 56
# Each container is a row: its name on a line of its own, its bar below. Names beside the
# bars took half the width, so on a phone both were small; above them, the bars get the
# whole width and the names the text size the legend has. In row units: the bar's centre
# below the row's middle, its thickness, and where the name's top sits.
BAR_OFFSET = 0.17
BAR_HEIGHT = 0.5
NAME_TOP = -0.47
# Pixels per row at WIDTH_PX (the default height follows from it), and around the rows.
ROW_PX = 58
FRAME_PX = 220

# A bar's colour is its container's verdict, the one the digest's text counts by; worst first,
# the legend's order. Cache-heavy has its own colour: usage near the limit is not risk.
BAND_COLOURS = {"critical": VERMILLION, "warning": ORANGE, "cache_heavy": SKY, "ok": GREEN}


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


def _digest_label(memory: ContainerMemory, width: int = LABEL_CHARS, *, pod: bool = False) -> str:
    """`shop/deployment/api · app`: the workload, as the digest's text names it; the pod
    (its generated suffix, or its name when it has no workload) only where needed."""
    ref = memory.ref
    where = f"{ref.cluster}:" if ref.cluster else ""
    where += f"{ref.namespace}/{memory.workload or ref.pod}"
    suffix = " · " + _shorten(ref.container, 16)
    if pod and memory.workload:
        suffix += " · …" + ref.pod.rsplit("-", 1)[-1]
    return _shorten(where, max(16, width - len(suffix))) + suffix


def _digest_labels(chosen: Sequence[Assessment]) -> list[str]:
    """Workload labels; replicas of one workload on the list are told apart by their pod."""
    plain = [_digest_label(a.memory) for a in chosen]
    repeated = {label for label in plain if plain.count(label) > 1}
    return [
        _digest_label(a.memory, pod=True) if label in repeated else label
        for a, label in zip(chosen, plain, strict=True)
    ]


def _band(a: Assessment) -> str:
    """The bar's colour: the container's verdict (its own thresholds, its trend, its cache),
    so the chart and the digest's counts never disagree about a container."""
    return a.verdict.value if a.verdict.value in BAND_COLOURS else "ok"


def _bar_shapes(rows: FloatArray, widths: FloatArray) -> list[FloatArray]:
    """Horizontal bars from x = 0, one in each row below its name, as polygons."""
    half = BAR_HEIGHT / 2
    return [
        np.array([(0.0, y - half), (w, y - half), (w, y + half), (0.0, y + half)])
        for y, w in zip(rows + BAR_OFFSET, widths, strict=True)
    ]


def bar_widths(bars: PolyCollection) -> list[float]:
    """The drawn length of each bar in a collection from `_bar_shapes`, top bar first."""
    return [float(np.max(np.asarray(path.vertices)[:, 0])) for path in bars.get_paths()]


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
            _digest_label(a.memory, pod=True),
        ),
    )[: max(0, top)]

    unlimited = len(assessments) - len(limited)
    if chosen:
        subtitle = f"the {len(chosen)} closest to their memory limit, by working set / limit" + (
            f" ({unlimited} without a limit not shown)" if unlimited else ""
        )
    else:
        subtitle = (
            f"{len(assessments)} containers, none with a memory limit"
            if assessments
            else "no containers assessed"
        )
    heading_px = heading(fig, title, subtitle)
    if not chosen:
        message = fig.text(
            0.5,
            0.5,
            "no containers with a limit",
            ha="center",
            va="center",
            fontsize=points(fig, TITLE_PT),
            color=GREY,
        )
        return DigestDrawing(axes=None, message=message)

    axes = fig.add_axes((0.3, 0.2, 0.5, 0.6))  # placed for real once labels are measured
    drawing = DigestDrawing(axes=axes, labels=_digest_labels(chosen))
    positions = np.arange(len(chosen), dtype=np.float64)
    ws = np.array([a.working_set_to_limit or 0.0 for a in chosen], dtype=np.float64)
    usage = np.maximum(np.array([a.usage_to_limit or 0.0 for a in chosen], dtype=np.float64), ws)
    drawing.bands = [_band(a) for a in chosen]
    colours = [BAND_COLOURS[b] for b in drawing.bands]
    # Bars as two collections (usage behind, working set in front): barh's per-bar patches
    # cost ~20 ms for 30 rectangles.
    drawing.usage_bars = PolyCollection(
        _bar_shapes(positions, usage),
        facecolors=[lighter(c, 0.65) for c in colours],
        edgecolors=[lighter(c, 0.25) for c in colours],
        linewidths=0.8,
        zorder=2,
    )
    drawing.working_set_bars = PolyCollection(
        _bar_shapes(positions, ws), facecolors=colours, linewidths=0, zorder=3
    )
    axes.add_collection(drawing.usage_bars, autolim=False)
    axes.add_collection(drawing.working_set_bars, autolim=False)

    x_max = max(1.08, float(np.max(usage)) + 0.03, critical_ratio + 0.08)
    for y, w, u, a, band in zip(positions, ws, usage, chosen, drawing.bands, strict=True):
        parts = [f"{w * 100:.0f} %"]
        if u - w >= 0.05:
            parts.append(f"usage {u * 100:.0f} %")
        if a.verdict is Verdict.CRITICAL and w < critical_ratio and a.seconds_to_limit:
            parts.append(f"limit in {format_duration(a.seconds_to_limit)}")
        text = " · ".join(parts)
        drawing.value_labels.append(
            axes.text(
                float(max(w, u)) + x_max * 0.006,
                float(y) + BAR_OFFSET,
                text,
                va="center",
                ha="left",
                fontsize=points(fig, TEXT_PT),
                color=INK,
                fontweight="bold" if band in ("warning", "critical") else "normal",
                clip_on=False,
                zorder=6,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
            )
        )

    thresholds = _digest_thresholds(axes, warning_ratio, critical_ratio)
    names = _digest_axes(axes, drawing.labels, x_max)
    note_px = footnote(fig, FOOTNOTE + ": a light bar behind a dark one is cache, not risk.")
    _, legend_px = fit_legend(fig, _digest_legend(drawing.bands), note_px + 6)

    # The bars get the widest area that still lets each value label, which starts at its
    # own bar's end, end inside the figure.
    renderer = text_renderer(fig)
    left_px = 28.0  # half of the "0 %" tick label below the bars' start
    room_px = figure_width_px(fig) - left_px - 12
    bars_px = room_px - 40
    for label, w, u in zip(drawing.value_labels, ws, usage, strict=True):
        reach = float(max(w, u)) / x_max + 0.006
        needed = label.get_window_extent(renderer).width + 14
        bars_px = min(bars_px, (room_px - needed) / reach if reach > 0 else bars_px)
    top_px = heading_px + 12 + max(t.get_window_extent(renderer).height for t in thresholds) + 8
    bottom_px = note_px + 6 + legend_px + 10 + text_height_px(fig, TEXT_PT) + 10
    rows_px = figure_height_px(fig) - top_px - bottom_px
    # A figure shorter than its rows want (a caller's height) gets smaller row text, so a
    # name never runs into the bar above.
    crowded = min(1.0, rows_px / len(chosen) / (ROW_PX * points(fig, 1.0)))
    for row_text in [*names, *drawing.value_labels]:
        row_text.set_fontsize(points(fig, TEXT_PT) * max(crowded, 0.5))
    axes.set_position(
        (
            fx(fig, left_px),
            fy(fig, bottom_px),
            fx(fig, max(bars_px, 120.0)),
            fy(fig, rows_px),
        )
    )
    return drawing


def _digest_thresholds(axes: Axes, warning_ratio: float, critical_ratio: float) -> list[Text]:
    """Dashed lines at the thresholds, labelled above the plot away from each other: the
    warning label ends at its line, the critical one starts at its line. Returns the labels."""
    fig = figure_of(axes)
    assert isinstance(fig, Figure)
    labels: list[Text] = []
    for ratio, name, colour, align in (
        (warning_ratio, "warning", ORANGE, "right"),
        (critical_ratio, "critical", VERMILLION, "left"),
    ):
        axes.axvline(ratio, color=colour, linewidth=1.4, linestyle=(0, (5, 3)), zorder=4)
        label = axes.annotate(
            f"{name} {ratio * 100:.0f} %",
            (ratio, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3 if align == "left" else -3, 4),
            textcoords="offset points",
            ha=align,
            va="bottom",
            fontsize=points(fig, TEXT_PT),
            fontweight="bold",
            color=colour,
            annotation_clip=False,
        )
        labels.append(label)
    axes.axvline(1.0, color=INK, linewidth=1.2, zorder=4)
    return labels


def _digest_axes(axes: Axes, labels: list[str], x_max: float) -> list[Text]:
    """Percent x axis, container names above their bars; returns the names."""
    # Names as plain texts, not tick labels: 15 ticks cost ~25 ms of tick machinery.
    fig = figure_of(axes)
    assert isinstance(fig, Figure)
    axes.set_yticks([])
    names: list[Text] = [
        axes.annotate(
            label,
            (0.0, float(y) + NAME_TOP),
            xycoords=("axes fraction", "data"),
            xytext=(1, 0),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=points(fig, TEXT_PT),
            color=INK,
            annotation_clip=False,
            zorder=6,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
        )
        for y, label in enumerate(labels)
    ]
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlim(0, x_max)
    axes.xaxis.set_major_locator(MultipleLocator(0.2 if x_max <= 1.6 else 0.5))
    axes.xaxis.set_major_formatter(FuncFormatter(_percent))
    axes.tick_params(labelsize=points(fig, TEXT_PT), colors=INK)
    axes.grid(True, axis="x", color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):  # the bars themselves start at 0
        axes.spines[side].set_visible(False)
    return names


def _digest_legend(bands: Sequence[str]) -> list[Artist]:
    """One entry per verdict drawn, worst first, then the usage bar behind."""
    names = {
        "critical": "critical",
        "warning": "warning",
        "cache_heavy": "full of cache (safe)",
        "ok": "ok",
    }
    handles: list[Artist] = [
        Patch(facecolor=BAND_COLOURS[band], label=names[band])
        for band in BAND_COLOURS
        if band in bands
    ]
    handles.append(
        Patch(
            facecolor=lighter(GREY, 0.65),
            edgecolor=lighter(GREY, 0.25),
            label="usage (incl. cache)",
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
    width_px: int = WIDTH_PX,
    height_px: int | None = None,
) -> bytes:
    """The `top` containers by working set / limit as horizontal bars, as a PNG.

    Bars are coloured by verdict (critical, warning, cache-heavy, ok: what the digest counts;
    the ratios draw the threshold lines) with a lighter extension to usage / limit behind
    each. Containers without a limit are left out. `height_px` defaults to fit the bars.
    """
    shown = min(max(0, top), sum(1 for a in assessments if a.working_set_to_limit is not None))
    scale = width_px / WIDTH_PX
    fig = new_figure(width_px, height_px or round(max(280, (FRAME_PX + ROW_PX * shown) * scale)))
    _draw_digest(
        fig,
        assessments,
        warning_ratio=warning_ratio,
        critical_ratio=critical_ratio,
        top=top,
        title=title,
    )
    return render_png(fig)
