"""What the charts share: a figure and its PNG, text that fits, units, the palette, a legend
below the plot.

matplotlib's object API on the Agg canvas only, never pyplot: pyplot keeps global figure state
and is not thread-safe, and the bot renders from worker threads. A Figure built here is
referenced by nothing global, so it is freed with its last reference; `render` also clears it
explicitly. Sizes are in pixels (DPI 100), because Slack shows the image scaled to its width:
what must stay legible is text height relative to the figure's width.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from bot.units import GIB, MIB, format_bytes

DPI = 100
FOOTNOTE = "OOM kills follow the working set, not usage"
# The width the text sizes below are set for. Slack shows a chart about 360-400 px wide on a
# phone: at 1200 px, 10 pt text became ~4 px there. At this width and these sizes, legend
# text is ~8 px tall on a phone. Other widths scale their text with them.
WIDTH_PX = 1000
TITLE_PT = 20.0
SUBTITLE_PT = 15.0
LEGEND_PT = 15.0
TEXT_PT = 14.0  # tick labels, line labels, names, values
NOTE_PT = 12.0
# Text is never shrunk below this share of its size to fit a line: cut words instead.
SMALLEST_SHARE = 0.72

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
INK = "#222222"
GREY = "#6b6b6b"

FloatArray = npt.NDArray[np.float64]


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like Europe/Berlin"
        ) from None


def figure_of(axes: Axes) -> Figure:
    """The figure the axes are drawn on (this module's figures have no sub-figures).
    `axes.figure`, not `get_figure(root=True)`: that argument is matplotlib 3.10's, and
    pyproject allows 3.8."""
    fig = axes.figure
    assert isinstance(fig, Figure)
    return fig


def new_figure(width_px: int, height_px: int) -> Figure:
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


_REUSED = threading.local()


def reused_figure(width_px: int, height_px: int) -> Figure:
    """A blank figure of this size, the same one each time on this thread: its Agg renderer
    keeps the measures of the text it has drawn (tick labels, legend, footnote), which a
    new figure measures again; a memory chart draws in 0.07 s instead of 0.08 s. Callers
    draw, then `render_png`, which clears it; one that raised is cleared here."""
    figures: dict[tuple[int, int], Figure] = _REUSED.__dict__.setdefault("figures", {})
    fig = figures.get((width_px, height_px))
    if fig is None:
        fig = figures[(width_px, height_px)] = new_figure(width_px, height_px)
    fig.clear()
    return fig


def render_png(fig: Figure) -> bytes:
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


def text_renderer(fig: Figure) -> RendererAgg:
    """The Agg renderer, to measure text before placing things around it."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    renderer: RendererAgg = canvas.get_renderer()  # type: ignore[no-untyped-call]
    return renderer


def figure_width_px(fig: Figure) -> float:
    return float(fig.get_size_inches()[0] * DPI)


def figure_height_px(fig: Figure) -> float:
    return float(fig.get_size_inches()[1] * DPI)


def fx(fig: Figure, pixels: float) -> float:
    """Horizontal pixels as a fraction of the figure: margins are set in pixels, like text."""
    return pixels / figure_width_px(fig)


def fy(fig: Figure, pixels: float) -> float:
    return pixels / figure_height_px(fig)


def points(fig: Figure, size: float) -> float:
    """A text size for this figure: `size` as set for WIDTH_PX, scaled with the width, so a
    chart of any width keeps the proportions (and the legibility when scaled) of that one."""
    return size * figure_width_px(fig) / WIDTH_PX


def text_height_px(fig: Figure, size: float) -> float:
    """The height of a line of `size`-point text (as `points` scales it), in pixels."""
    return points(fig, size) * DPI / 72 * 1.2


def fit_width(fig: Figure, text: Text, size: float) -> Text:
    """Shrink `text` from `size` until it fits the figure's width, down to SMALLEST_SHARE of
    it: narrow charts must not clip sentences."""
    renderer = text_renderer(fig)
    room = figure_width_px(fig) - 24
    size = points(fig, size)
    smallest = size * SMALLEST_SHARE
    text.set_fontsize(size)
    while text.get_window_extent(renderer).width > room and size > smallest:
        size -= 0.5
        text.set_fontsize(size)
    return text


def heading(fig: Figure, title: str, subtitle: str) -> float:
    """Bold title and grey subtitle, top left; returns the pixels they take from the top."""
    renderer = text_renderer(fig)
    x, top = fx(fig, 12), 10.0
    bold = fig.text(x, 1 - fy(fig, top), title, ha="left", va="top", color=INK)
    bold.set_fontweight("bold")
    fit_width(fig, bold, TITLE_PT)
    below = top + bold.get_window_extent(renderer).height + 6
    grey = fig.text(x, 1 - fy(fig, below), subtitle, ha="left", va="top", color=GREY)
    fit_width(fig, grey, SUBTITLE_PT)
    return below + grey.get_window_extent(renderer).height


def footnote(fig: Figure, text: str) -> float:
    """An italic grey line at the bottom; returns the pixels it takes from the bottom."""
    note = fig.text(fx(fig, 12), fy(fig, 7), text, ha="left", va="bottom", color=GREY)
    note.set_fontstyle("italic")
    fit_width(fig, note, NOTE_PT)
    return 7 + note.get_window_extent(text_renderer(fig)).height


def short_bytes(value: float | None) -> str:
    """format_bytes without a useless ".0": "256 MiB", "1.50 GiB", "95.5 MiB"."""
    text = format_bytes(value)
    number, _, unit = text.partition(" ")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return f"{number} {unit}" if unit else number


def lighter(colour: str, amount: float) -> tuple[float, float, float]:
    """`colour` (#rrggbb) mixed with white: `amount` 0 is the colour, 1 is white."""
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return (red + (1 - red) * amount, green + (1 - green) * amount, blue + (1 - blue) * amount)


@dataclass(frozen=True, slots=True)
class Unit:
    """The y axis' byte unit (MiB or GiB)."""

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


def unit_for(top_bytes: float) -> Unit:
    return Unit("GiB", GIB) if top_bytes >= 1.5 * GIB else Unit("MiB", MIB)


def fit_legend(fig: Figure, handles: list[Artist], bottom_px: float) -> tuple[int, float]:
    """A legend centred below the plot in as few rows as fit the width; returns its rows
    and its height in pixels."""
    if not handles:
        return 0, 0.0
    renderer = text_renderer(fig)
    width = figure_width_px(fig)
    columns = len(handles)
    while True:
        legend = fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, fy(fig, bottom_px)),
            ncol=columns,
            frameon=False,
            fontsize=points(fig, LEGEND_PT),
            handlelength=1.8,
            handletextpad=0.5,
            columnspacing=1.1,
            borderaxespad=0.0,
            borderpad=0.0,
        )
        extent = legend.get_window_extent(renderer)
        if columns == 1 or extent.width <= width - 16:
            return math.ceil(len(handles) / columns), float(extent.height)
        legend.remove()
        columns = math.ceil(len(handles) / (math.ceil(len(handles) / columns) + 1))
