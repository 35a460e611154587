"""Charts: PNGs that decode, and drawings that say what the data says.

The content tests inspect the Axes `_draw_memory` / `_draw_digest` return, not pixels: the
usage line must sit on the limit in experiment 2 while the working-set line climbs, kills must
break lines, units must follow the data. The samples in docs/charts/ come from `write_samples`.
"""

from __future__ import annotations

import ctypes
import gc
import io
import itertools
import os
import weakref
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

import bot.render.canvas as canvas
import bot.render.digest_chart as digest_charts
import bot.render.memory_chart as memory_charts
import bot.render.series as series
from bot.analysis import Assessment, Thresholds, assess
from bot.check import run_check
from bot.cycle import digest_notice
from bot.delivery.charts import bar_assessments
from bot.digest import Gathered
from bot.digest import build as build_digests
from bot.model import ContainerMemory, ContainerRef, History, OomKill, Series
from bot.promql import Scope
from bot.render.digest import DigestRenderer
from bot.render.digest_chart import bar_widths, digest_chart
from bot.render.memory_chart import MemoryDrawing, memory_chart
from bot.scenarios import ClusterSpec, PodSpec, mixed_cluster, named_pod
from bot.settings import load_settings
from bot.sources.simulated import SimulatedSource
from bot.units import GIB, MIB

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXP2 = named_pod("leak-file-cache", "shop", "ingest-5c4b-q1w9z")
EXP1 = named_pod("leak", "shop", "checkout-7d9f-x2k4p")
CRASHLOOP = named_pod("crashloop-oom", "batch", "resizer-3a7b-z8x2c")
CLUSTER = ClusterSpec(pods=(EXP2, EXP1, CRASHLOOP), start=START, duration=timedelta(hours=5))
SOURCE = SimulatedSource(CLUSTER, load_settings())


@dataclass(frozen=True)
class Case:
    """One container's chart inputs, as the bot would have them."""

    history: History
    ref: ContainerRef
    limit_bytes: int | None
    request_bytes: int | None
    kills: tuple[OomKill, ...]

    def draw(self, fig: Figure, **overrides: object) -> MemoryDrawing:
        arguments: dict[str, object] = {
            "limit_bytes": self.limit_bytes,
            "request_bytes": self.request_bytes,
            "kills": self.kills,
        }
        arguments.update(overrides)
        return memory_charts._draw_memory(fig, self.history, self.ref, **arguments)  # type: ignore[arg-type]

    def png(self, **overrides: object) -> bytes:
        arguments: dict[str, object] = {
            "limit_bytes": self.limit_bytes,
            "request_bytes": self.request_bytes,
            "kills": self.kills,
        }
        arguments.update(overrides)
        return memory_chart(self.history, self.ref, **arguments)  # type: ignore[arg-type]


def ref_of(pod: PodSpec) -> ContainerRef:
    return ContainerRef(pod.cluster, pod.namespace, pod.name, pod.containers[0].name)


def kills_of(pod: PodSpec, until_seconds: float) -> tuple[OomKill, ...]:
    """The scenario's kills as the bot's OomKill: Kill times are seconds since the first start."""
    behaviour = pod.containers[0].behaviour
    return tuple(
        OomKill(
            ref_of(pod),
            kill.restart_count,
            finished_at=CLUSTER.at(pod.started_after + kill.finished_at),
        )
        for kill in behaviour.state(until_seconds - pod.started_after).kills
    )


def case(pod: PodSpec, hours: float) -> Case:
    container = pod.containers[0]
    return Case(
        history=SOURCE.history(
            Scope(pod.namespace, pod.name), CLUSTER.at(0), CLUSTER.at(hours * 3600)
        ),
        ref=ref_of(pod),
        limit_bytes=None if container.limit is None else round(container.limit),
        request_bytes=None if container.request is None else round(container.request),
        kills=kills_of(pod, hours * 3600),
    )


@pytest.fixture(scope="module")
def exp2() -> Case:
    return case(EXP2, 4)


@pytest.fixture(scope="module")
def exp1() -> Case:
    return case(EXP1, 4)


@pytest.fixture(scope="module")
def crashloop() -> Case:
    return case(CRASHLOOP, 2)


def figure() -> Figure:
    fig = Figure(figsize=(12, 6), dpi=canvas.DPI)
    FigureCanvasAgg(fig)
    return fig


def decoded(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


def data(values: object) -> npt.NDArray[np.float64]:
    """A line's x or y data as floats (matplotlib types them loosely)."""
    return np.asarray(values, dtype=np.float64)


def draw_without_kills(fig: Figure, history: History, like: Case) -> MemoryDrawing:
    return memory_charts._draw_memory(
        fig, history, like.ref, limit_bytes=like.limit_bytes, request_bytes=like.request_bytes
    )


def unix_seconds(days: object) -> npt.NDArray[np.float64]:
    """matplotlib date numbers (an x axis) as unix seconds."""
    return (data(days) - series.EPOCH_DAYS) * 86400


def line_bytes(drawing: MemoryDrawing, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A plotted line's x (unix seconds) and y (bytes), NaNs included."""
    line = drawing.lines[name]
    return unix_seconds(line.get_xdata()), np.asarray(
        line.get_ydata(), dtype=float
    ) * drawing.unit_bytes


def at_seconds(seconds: float) -> float:
    return CLUSTER.at(seconds).timestamp()


# --- PNGs ---------------------------------------------------------------------------------


def test_each_case_renders_a_png_of_the_requested_size(
    exp2: Case, exp1: Case, crashloop: Case
) -> None:
    empty = History(start=CLUSTER.at(0), end=CLUSTER.at(3600), step_seconds=30.0)
    no_limit = Case(exp1.history, exp1.ref, None, None, ())
    pngs = {
        "normal": exp2.png(),
        "with kills": exp1.png(),
        "crashloop gaps": crashloop.png(),
        "no limit": no_limit.png(),
        "empty": memory_chart(empty, exp1.ref, limit_bytes=256 * MIB, request_bytes=None),
        "small": exp2.png(width_px=640, height_px=360),
    }
    for name, png in pngs.items():
        expected = (640, 360) if name == "small" else (1000, 560)
        assert decoded(png) == expected, name


def test_digest_and_empty_digest_render(assessments: list[Assessment]) -> None:
    width, height = decoded(digest_chart(assessments, warning_ratio=0.8, critical_ratio=0.9))
    assert width == 1000 and height >= 280
    assert decoded(digest_chart([], warning_ratio=0.8, critical_ratio=0.9))[0] == 1000
    unlimited = [a for a in assessments if a.working_set_to_limit is None]
    assert unlimited
    decoded(digest_chart(unlimited, warning_ratio=0.8, critical_ratio=0.9))


# --- The memory chart's content -----------------------------------------------------------


def test_experiment_2_usage_sits_on_the_limit_while_the_working_set_climbs(exp2: Case) -> None:
    drawing = exp2.draw(figure())
    limit = exp2.limit_bytes
    assert limit is not None
    assert drawing.limit_line is not None
    assert float(data(drawing.limit_line.get_ydata())[0]) * drawing.unit_bytes == pytest.approx(
        limit
    )

    times, usage = line_bytes(drawing, "usage")
    _, working_set = line_bytes(drawing, "working_set")
    _, cache = line_bytes(drawing, "cache")
    kill = exp2.kills[0].finished_at
    assert kill is not None
    before_kill = times < kill.timestamp()
    # Usage: pinned within 1 % of the limit, and never above it.
    assert np.nanmax(usage) == pytest.approx(limit, rel=0.01)
    assert np.nanmax(usage) <= limit
    # From the moment usage reaches the limit until the kill: usage stays there, the working
    # set climbs from well below it to the limit, the cache shrinks by what it gains.
    pinned = before_kill & (usage >= 0.99 * limit)
    first, last = np.flatnonzero(pinned)[[0, -1]]
    assert np.all(usage[first : last + 1] >= 0.99 * limit)
    assert (times[last] - times[first]) > 2.5 * 3600
    assert working_set[first] < 0.5 * limit
    assert working_set[last] > 0.97 * limit
    assert np.all(np.diff(working_set[first : last + 1]) > -0.5 * MIB)  # rises (GC wobble only)
    assert cache[first] > 0.5 * limit > 0.05 * limit > cache[last]
    # The reclaimable band is drawn, and the kill is marked on the limit.
    assert drawing.reclaimable is not None
    assert drawing.kill_markers is not None
    assert [float(y) * drawing.unit_bytes for y in data(drawing.kill_markers.get_ydata())] == [
        limit
    ]
    assert [t.get_text() for t in drawing.kill_labels] == ["OOM"]


def test_experiment_1_working_set_and_usage_rise_together_to_the_kill(exp1: Case) -> None:
    drawing = exp1.draw(figure())
    times, usage = line_bytes(drawing, "usage")
    _, working_set = line_bytes(drawing, "working_set")
    kill = exp1.kills[0].finished_at
    assert kill is not None
    before = times < kill.timestamp()
    gap = usage[before] - working_set[before]
    assert np.nanmax(gap) < 3 * MIB  # no reclaimable cache: usage is the working set
    # So no band is drawn, and the legend does not name one.
    assert drawing.reclaimable is None
    assert np.nanmax(working_set[before]) > 0.98 * (exp1.limit_bytes or 0)


def test_lines_break_at_kills_and_long_gaps_but_not_short_ones(crashloop: Case) -> None:
    drawing = crashloop.draw(figure())
    times, working_set = line_bytes(drawing, "working_set")
    step = crashloop.history.step_seconds
    real = ~np.isnan(working_set)
    assert real.sum() == len(crashloop.history.of(crashloop.ref, "working_set"))
    # Every kill falls inside a break: the samples either side are never joined.
    kill_times = [k.finished_at.timestamp() for k in crashloop.kills if k.finished_at]
    assert len(kill_times) > 10
    for moment in kill_times:
        after = int(np.searchsorted(times, moment))
        if 0 < after < times.size:
            assert np.isnan(working_set[after - 1]) or np.isnan(working_set[after]), moment
    # And every gap longer than 3 steps is broken too.
    sample_times = times[real]
    for a, b in itertools.pairwise(sample_times):
        if b - a > 3 * step:
            between = (times > a) & (times < b)
            assert np.isnan(working_set[between]).any()
    # Too many kills to label one by one: one legend entry counts them.
    assert drawing.kill_markers is not None
    assert data(drawing.kill_markers.get_xdata()).size == len(kill_times)
    assert drawing.kill_labels == []
    assert str(len(kill_times)) in str(drawing.kill_markers.get_label())


def test_break_lines_joins_short_gaps_and_breaks_long_ones() -> None:
    times = np.array([0.0, 30, 60, 120, 240, 270, 300])  # gaps of 2 steps, then 4 steps
    values = np.arange(7, dtype=float)
    broken_times, broken = series.break_lines(times, values, 30.0)
    assert np.isnan(broken).sum() == 1
    nan_at = float(broken_times[np.isnan(broken)][0])
    assert 120 < nan_at < 240
    _, with_kill = series.break_lines(times, values, 30.0, breaks=[45.0])
    assert np.isnan(with_kill).sum() == 2


def test_only_this_containers_kills_inside_the_range_are_marked(exp1: Case) -> None:
    inside = exp1.kills[0]
    other = OomKill(ContainerRef("", "shop", "other-pod", "app"), 0, inside.finished_at)
    before = OomKill(exp1.ref, 7, exp1.history.start - timedelta(minutes=5))
    unknown_time = OomKill(exp1.ref, 8, None)
    drawing = exp1.draw(figure(), kills=(inside, inside, other, before, unknown_time))
    assert drawing.kill_markers is not None
    assert data(drawing.kill_markers.get_xdata()).size == 1
    # The kill with no time is this container's too: marked when it was last seen possible.
    assert drawing.approximate_kill_markers is not None
    assert data(drawing.approximate_kill_markers.get_xdata()).size == 1


def test_kills_without_an_exact_time_are_drawn_hollow_and_counted(exp1: Case) -> None:
    """A message that says 3 OOM kills never comes with a chart that says 1."""
    (kill,) = exp1.kills
    assert kill.finished_at is not None
    # Restarts after the kill, told by old kube-state-metrics: one at a scrape, one untimed.
    scraped = OomKill(
        exp1.ref, kill.restart_count + 1, kill.finished_at + timedelta(minutes=9), time_exact=False
    )
    untimed = OomKill(exp1.ref, kill.restart_count + 2, None)
    fig = figure()
    drawing = exp1.draw(fig, kills=(kill, scraped, untimed))
    assert drawing.kill_markers is not None and drawing.approximate_kill_markers is not None
    assert data(drawing.kill_markers.get_xdata()).size == 1
    rings = drawing.approximate_kill_markers
    assert unix_seconds(rings.get_xdata()) == pytest.approx(
        [scraped.finished_at.timestamp(), exp1.history.end.timestamp()]  # type: ignore[union-attr]
    )
    # Hollow and lighter than the exact cross, and named apart in the legend.
    assert rings.get_markerfacecolor() == "white"
    assert rings.get_marker() != drawing.kill_markers.get_marker()
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert "OOM kill" in labels and "2 OOM kills (time approximate)" in labels
    assert any("3 OOM kills (2 approximate)" in t.get_text() for t in fig.texts)
    # A bounded time is no place to break a line: only the exact kill breaks it.
    _, alone = line_bytes(exp1.draw(figure(), kills=(kill,)), "working_set")
    _, together = line_bytes(drawing, "working_set")
    assert np.isnan(together).sum() == np.isnan(alone).sum()


def test_no_limit_draws_no_limit_line_and_says_so(exp1: Case) -> None:
    fig = figure()
    drawing = exp1.draw(fig, limit_bytes=None, request_bytes=None)
    assert drawing.limit_line is None and drawing.request_line is None
    assert [t.get_text() for t in drawing.level_labels] == ["no limit"]
    assert any("no limit" in t.get_text() for t in fig.texts)
    # Kills still show, on the working set where it stood.
    assert drawing.kill_markers is not None
    y = float(data(drawing.kill_markers.get_ydata())[0]) * drawing.unit_bytes
    assert 0.95 * 256 * MIB < y <= 256 * MIB


def test_limit_and_request_are_labelled_in_place_and_kept_apart(exp1: Case) -> None:
    fig = figure()
    drawing = exp1.draw(fig, limit_bytes=256 * MIB, request_bytes=250 * MIB)
    fig.canvas.draw()
    labels = {t.get_text(): t for t in drawing.level_labels}
    assert set(labels) == {"limit 256 MiB", "request 250 MiB"}
    renderer = canvas.text_renderer(fig)
    limit_box = labels["limit 256 MiB"].get_window_extent(renderer)
    request_box = labels["request 250 MiB"].get_window_extent(renderer)
    assert not limit_box.overlaps(request_box)
    assert limit_box.x1 <= fig.bbox.width and request_box.x1 <= fig.bbox.width
    same = exp1.draw(figure(), limit_bytes=256 * MIB, request_bytes=256 * MIB)
    assert [t.get_text() for t in same.level_labels] == ["limit = request 256 MiB"]


def test_the_legend_and_labels_stay_inside_the_figure_and_off_the_plot(exp2: Case) -> None:
    for width, height in ((1200, 600), (700, 400)):
        fig = Figure(figsize=(width / 100, height / 100), dpi=100)
        FigureCanvasAgg(fig)
        drawing = exp2.draw(fig)
        fig.canvas.draw()
        renderer = canvas.text_renderer(fig)
        plot = drawing.axes.get_window_extent(renderer)
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, (width, box)
        assert not box.overlaps(plot)
        texts = [*fig.texts, *drawing.level_labels]
        for text in texts:
            extent = text.get_window_extent(renderer)
            assert extent.x0 >= 0 and extent.x1 <= width, (width, text.get_text())
        # The time axis' label sits between the plot and the legend, touching neither.
        axis_label = drawing.axes.xaxis.label.get_window_extent(renderer)
        assert not axis_label.overlaps(box) and axis_label.y1 < plot.y0


# Slack shows a chart about 360-400 px wide on a phone. Text this share of the figure's width
# tall is ~7 px there; the 10 pt legend of a 1200 px chart was 0.012 (~4.5 px).
LEGIBLE_SHARE = 0.018


def text_share(fig: Figure, text: Text) -> float:
    """A text's size in pixels as a share of the figure's width: what scaling keeps."""
    return float(text.get_fontsize()) * canvas.DPI / 72 / (fig.get_size_inches()[0] * canvas.DPI)


def test_the_memory_chart_stays_legible_scaled_to_a_phone(exp2: Case) -> None:
    for width, height in ((1000, 560), (1200, 600), (700, 400)):
        fig = canvas.new_figure(width, height)
        drawing = exp2.draw(fig)
        fig.canvas.draw()
        (legend,) = fig.legends
        texts = [
            *legend.get_texts(),
            *drawing.level_labels,
            *drawing.kill_labels,
            *drawing.axes.get_xticklabels(),
            *drawing.axes.get_yticklabels(),
        ]
        for text in texts:
            assert text_share(fig, text) >= LEGIBLE_SHARE, (width, text.get_text())
        # Two rows of legend at most: more would take the plot's room.
        assert drawing.legend_rows <= 2


def test_the_digest_chart_stays_legible_with_names_above_their_bars(
    assessments: list[Assessment],
) -> None:
    fig = canvas.new_figure(1000, 800)
    drawing = digest_charts._draw_digest(
        fig, assessments, warning_ratio=0.8, critical_ratio=0.9, top=10, title="t"
    )
    fig.canvas.draw()
    (legend,) = fig.legends
    assert drawing.axes is not None and drawing.working_set_bars is not None
    names = [t for t in drawing.axes.texts if t.get_text() in drawing.labels]
    assert len(names) == 10
    for text in [*legend.get_texts(), *names, *drawing.value_labels]:
        assert text_share(fig, text) >= LEGIBLE_SHARE, text.get_text()
    renderer = canvas.text_renderer(fig)
    to_pixels = drawing.axes.transData
    bars = [to_pixels.transform(path.vertices) for path in drawing.working_set_bars.get_paths()]
    for row, name in enumerate(names):
        box = name.get_window_extent(renderer)
        assert box.y0 >= bars[row][:, 1].max() - 1, name.get_text()  # above its own bar
        if row:
            assert box.y1 <= bars[row - 1][:, 1].min() + 1, name.get_text()  # below the last
        assert box.x1 <= 1000


def test_the_y_axis_unit_follows_the_data() -> None:
    assert canvas.unit_for(300 * MIB).name == "MiB"
    gib = canvas.unit_for(4 * GIB)
    assert gib.name == "GiB"
    assert gib.label(1.5) == "1.5 GiB" and gib.label(0) == "0"
    assert canvas.unit_for(300 * MIB).label(128) == "128 MiB"
    step = canvas.Unit("MiB", MIB).ticks(292 * MIB)
    assert step == 64  # 0, 64, 128, 192, 256: a 256 MiB limit lands on a tick


def test_big_containers_are_drawn_in_gib(exp1: Case) -> None:
    scaled = tuple(
        Series(s.ref, s.metric, tuple((t, v * 16) for t, v in s.points))
        for s in exp1.history.series
    )
    history = History(exp1.history.start, exp1.history.end, exp1.history.step_seconds, scaled)
    fig = figure()
    drawing = memory_charts._draw_memory(
        fig, history, exp1.ref, limit_bytes=4 * GIB, request_bytes=2 * GIB
    )
    assert drawing.unit_bytes == GIB
    fig.canvas.draw()
    ticks = [t.get_text() for t in drawing.axes.get_yticklabels() if t.get_text()]
    assert "4 GiB" in ticks and all(t == "0" or t.endswith(" GiB") for t in ticks)


def test_times_are_shown_in_the_requested_zone(exp1: Case) -> None:
    fig = figure()
    drawing = exp1.draw(fig, timezone="Europe/Berlin")
    fig.canvas.draw()
    assert drawing.axes.get_xlabel() == "time (Europe/Berlin, CET)"
    ticks = [t.get_text() for t in drawing.axes.get_xticklabels() if t.get_text()]
    # 09:00-13:00 UTC is 10:00-14:00 in Berlin in January.
    assert ticks[0] == "10:00" and ticks[-1] == "14:00", ticks
    assert any("10:00–14:00 CET" in t.get_text() for t in fig.texts)
    with pytest.raises(ValueError, match="unknown time zone"):
        exp1.png(timezone="Mars/Olympus_Mons")


def test_a_pod_younger_than_the_range_gets_its_axis_not_hours_of_nothing(exp1: Case) -> None:
    born = exp1.history.start + timedelta(hours=2, minutes=30)  # 11:30 in a 09:00-13:00 range
    young = History(
        exp1.history.start,
        exp1.history.end,
        exp1.history.step_seconds,
        tuple(
            Series(s.ref, s.metric, tuple(p for p in s.points if p[0] >= born.timestamp()))
            for s in exp1.history.series
        ),
    )
    fig = figure()
    drawing = draw_without_kills(fig, young, exp1)
    left, right = unix_seconds(drawing.axes.get_xlim())
    # The axis starts shortly before the first sample: a few minutes, not 2.5 hours.
    assert born.timestamp() - 10 * 60 < left < born.timestamp()
    assert right == pytest.approx(exp1.history.end.timestamp())
    assert any("data from 11:30" in t.get_text() for t in fig.texts)
    # Data that covers the range keeps the whole range, and says nothing about its start.
    fig = figure()
    full = draw_without_kills(fig, exp1.history, exp1)
    assert unix_seconds(full.axes.get_xlim())[0] == pytest.approx(exp1.history.start.timestamp())
    assert not any("data from" in t.get_text() for t in fig.texts)


def test_an_empty_range_says_so(exp1: Case) -> None:
    empty = History(start=exp1.history.start, end=exp1.history.end, step_seconds=30.0)
    drawing = memory_charts._draw_memory(
        figure(), empty, exp1.ref, limit_bytes=256 * MIB, request_bytes=None
    )
    assert drawing.message is not None
    assert drawing.message.get_text() == "no data in this range"
    assert drawing.lines == {}
    other_container = Case(exp1.history, ContainerRef("", "shop", "x", "y"), None, None, ())
    assert other_container.draw(figure()).message is not None


def test_missing_series_are_left_out(exp1: Case) -> None:
    kept = tuple(s for s in exp1.history.series if s.metric in ("working_set", "usage"))
    history = History(exp1.history.start, exp1.history.end, exp1.history.step_seconds, kept)
    drawing = memory_charts._draw_memory(
        figure(), history, exp1.ref, limit_bytes=256 * MIB, request_bytes=None
    )
    assert set(drawing.lines) == {"working_set", "usage"}
    # All-zero swap (the simulated nodes) is not drawn either.
    assert "swap" not in exp1.draw(figure()).lines


def test_the_title_names_the_container_and_cluster(exp1: Case) -> None:
    fig = figure()
    ref = ContainerRef(
        "prod-eu", *[getattr(exp1.ref, f) for f in ("namespace", "pod", "container")]
    )
    memory_charts._draw_memory(fig, exp1.history, ref, limit_bytes=None, request_bytes=None)
    texts = [t.get_text() for t in fig.texts]
    assert "prod-eu:shop/checkout-7d9f-x2k4p · app" in texts
    assert any("OOM kills follow the working set, not usage" in t for t in texts)


# --- The digest chart ---------------------------------------------------------------------


def memory(name: str, ws_mib: float, usage_mib: float, limit_mib: float | None) -> ContainerMemory:
    return ContainerMemory(
        ref=ContainerRef("", "shop", name, "app"),
        working_set_bytes=round(ws_mib * MIB),
        working_set_floor_bytes=round(ws_mib * MIB),
        usage_bytes=round(usage_mib * MIB),
        rss_bytes=round(ws_mib * MIB * 0.9),
        limit_bytes=None if limit_mib is None else round(limit_mib * MIB),
    )


@pytest.fixture(scope="module")
def assessments() -> list[Assessment]:
    cluster = mixed_cluster(200, start=START)
    settings = load_settings()
    result = run_check(
        source=SimulatedSource(cluster, settings), settings=settings, at=cluster.at(7200)
    )
    return list(result.assessments)


def test_digest_bars_are_ranked_coloured_by_verdict_and_show_usage_behind() -> None:
    t = Thresholds()
    items = [
        assess(memory("ok-a", 100, 110, 256), t),
        assess(memory("cache-heavy", 150, 255, 256), t),  # 59 %, usage 100 %
        assess(memory("critical-b", 243, 250, 256), t),  # 95 %
        assess(memory("warning-c", 218, 220, 256), t),  # 85 %
        assess(memory("no-limit", 300, 310, None), t),
    ]
    fig = figure()
    drawing = digest_charts._draw_digest(
        fig, items, warning_ratio=0.8, critical_ratio=0.9, top=15, title="t"
    )
    assert [label.split("/")[1].split(" ")[0] for label in drawing.labels] == [
        "critical-b",
        "warning-c",
        "cache-heavy",
        "ok-a",
    ]
    assert drawing.bands == ["critical", "warning", "cache_heavy", "ok"]
    assert drawing.working_set_bars is not None and drawing.usage_bars is not None
    ws = bar_widths(drawing.working_set_bars)
    usage = bar_widths(drawing.usage_bars)
    assert ws == pytest.approx([243 / 256, 218 / 256, 150 / 256, 100 / 256])
    assert usage[2] == pytest.approx(255 / 256)  # full by usage, safe by working set
    assert all(u >= w for u, w in zip(usage, ws, strict=True))
    values = [t.get_text() for t in drawing.value_labels]
    assert values[0] == "95 %"
    assert values[2] == "59 % · usage 100 %"
    # The cache-heavy bar has its own colour, never the critical one, and its legend entry.
    colours = [to_hex(c) for c in drawing.working_set_bars.get_facecolors()]
    assert colours[0] == canvas.VERMILLION.lower()
    assert colours[2] == canvas.SKY.lower() != canvas.VERMILLION.lower()
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "critical",
        "warning",
        "full of cache (safe)",
        "ok",
        "usage (incl. cache)",
    ]


def test_the_digest_chart_and_the_digest_text_count_by_the_same_verdicts() -> None:
    """A mixed set through the digest's own path: built, told in words, stored as bars,
    drawn. A spike above critical that did not hold is ok in both; a container racing to
    its limit is critical in both, though its bar alone (no trend) would read ok."""
    t = Thresholds()
    spike = replace(memory("spike", 240, 245, 256), working_set_floor_bytes=150 * MIB)
    racing = replace(memory("racing", 180, 182, 256), growth_bytes_per_second=5 * MIB / 60)
    mixed = [
        memory("ok-a", 100, 110, 256),
        memory("cache-a", 150, 255, 256),
        memory("cache-b", 160, 250, 256),
        memory("critical-a", 243, 250, 256),
        memory("warning-a", 218, 220, 256),
        memory("warning-b", 210, 212, 256),
        spike,
        racing,
    ]
    assessed = tuple(assess(m, t) for m in mixed)
    verdicts = {a.memory.ref.pod: a.verdict.value for a in assessed}
    assert verdicts["spike"] == "ok" and verdicts["racing"] == "critical"
    settings = load_settings(slack_channel="#digest", digest_floor_ratio=0.0)
    (digest,) = build_digests(
        Gathered(assessed, (), None, None), settings=settings, at=START, previous={}
    )
    text = DigestRenderer(settings).message(digest).text
    notice = digest_notice(digest, settings=settings, at=START.timestamp())
    assert notice.bars is not None and len(notice.bars) == len(mixed)
    drawing = digest_charts._draw_digest(
        figure(),
        bar_assessments(notice.bars, settings),
        warning_ratio=settings.warning_ratio,
        critical_ratio=settings.critical_ratio,
        top=len(mixed),
        title="t",
    )
    drawn = Counter(drawing.bands)
    assert f"*{drawn['critical']}* critical" in text and drawn["critical"] == 2
    assert f"*{drawn['warning']}* warning" in text and drawn["warning"] == 2
    cache_section = text.split("Looks full, is cache")[1]
    assert cache_section.count("\n•") == drawn["cache_heavy"] == 2
    assert dict(zip(drawing.labels, drawing.bands, strict=True)) == {
        digest_charts._digest_label(a.memory): verdicts[a.memory.ref.pod] for a in assessed
    }


def test_digest_keeps_the_top_n_and_says_how_many_it_left_out(
    assessments: list[Assessment],
) -> None:
    fig = figure()
    drawing = digest_charts._draw_digest(
        fig, assessments, warning_ratio=0.8, critical_ratio=0.9, top=15, title="t"
    )
    ratios = sorted(
        (a.working_set_to_limit for a in assessments if a.working_set_to_limit is not None),
        reverse=True,
    )
    assert drawing.working_set_bars is not None
    assert bar_widths(drawing.working_set_bars) == pytest.approx(ratios[:15])
    assert any("the 15 closest to their memory limit" in t.get_text() for t in fig.texts)


def test_digest_labels_are_shortened_in_the_middle() -> None:
    ref = ContainerRef(
        "prod-eu-west-1", "payments-processing", "x" * 20 + "-7d9f8c6b5-q1w9z", "app"
    )
    label = digest_charts._digest_label(ContainerMemory(ref))
    assert len(label) <= digest_charts.LABEL_CHARS
    assert label.startswith("prod-eu-west-1:pay") and label.endswith("-q1w9z · app")
    assert "…" in label


def test_digest_bars_name_workloads_and_replicas_by_their_pod() -> None:
    def replica(pod: str, workload: str | None, ws: int) -> Assessment:
        memory = ContainerMemory(
            ContainerRef("", "shop", pod, "app"),
            working_set_bytes=ws * MIB,
            usage_bytes=ws * MIB,
            limit_bytes=256 * MIB,
            workload=workload,
        )
        return assess(memory, Thresholds())

    bars = [
        replica("api-7d9f8c6b5-q1w9z", "deployment/api", 240),
        replica("api-7d9f8c6b5-x2k4p", "deployment/api", 230),
        replica("web-6b8c-m2n7v", "deployment/web", 200),
        replica("debug", None, 150),
    ]
    drawing = digest_charts._draw_digest(
        figure(), bars, warning_ratio=0.8, critical_ratio=0.9, top=4, title="t"
    )
    assert drawing.labels == [
        "shop/deployment/api · app · …q1w9z",
        "shop/deployment/api · app · …x2k4p",
        "shop/deployment/web · app",
        "shop/debug · app",
    ]


def test_an_empty_digest_says_so() -> None:
    drawing = digest_charts._draw_digest(
        figure(), [], warning_ratio=0.8, critical_ratio=0.9, top=15, title="t"
    )
    assert drawing.axes is None
    assert drawing.message is not None
    assert drawing.message.get_text() == "no containers with a limit"


# --- Threads, leaks, samples --------------------------------------------------------------


def test_concurrent_renders_match_serial_ones(exp2: Case, crashloop: Case) -> None:
    """No shared state: four threads draw the same bytes as one."""
    jobs: list[Callable[[], bytes]] = [exp2.png, crashloop.png] * 2
    serial = [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda job: job(), jobs))
    assert parallel == serial


def test_a_reused_figure_draws_what_a_new_one_draws(exp2: Case, exp1: Case) -> None:
    """A thread's charts share one figure (its renderer keeps text measures): nothing of
    one chart is left in the next, even after a drawing that failed half-way."""

    def fresh(case: Case) -> bytes:
        fig = canvas.new_figure(1000, 560)
        case.draw(fig)
        return canvas.render_png(fig)

    with pytest.raises(TypeError):
        exp1.png(kills=object())  # fails after the figure has axes and lines
    assert [exp2.png(), exp1.png(), exp2.png()] == [fresh(exp2), fresh(exp1), fresh(exp2)]
    assert canvas.reused_figure(1000, 560) is canvas.reused_figure(1000, 560)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_fifty_renders_free_every_figure_and_memory_stays_flat(exp1: Case) -> None:
    """memory_chart's own steps (figure, drawing, PNG), each figure watched by a weak
    reference: nothing may keep one alive after its render."""
    made: list[weakref.ref[Figure]] = []
    empty = History(start=exp1.history.start, end=exp1.history.end, step_seconds=30.0)
    cases = [
        (
            exp1.history,
            {
                "limit_bytes": exp1.limit_bytes,
                "request_bytes": exp1.request_bytes,
                "kills": exp1.kills,
            },
        ),
        (empty, {"limit_bytes": 256 * MIB, "request_bytes": None}),
    ]

    def render(index: int) -> bytes:
        history, arguments = cases[index % 2]
        fig = canvas.new_figure(1200, 600)
        made.append(weakref.ref(fig))
        memory_charts._draw_memory(fig, history, exp1.ref, **arguments)  # type: ignore[arg-type]
        return canvas.render_png(fig)

    rss = []
    for index in range(50):
        render(index)
        if index in (24, 49):
            gc.collect()
            # Hand freed arena memory back to the OS: RSS then counts what is alive, not
            # what malloc keeps around (tens of MiB of noise on a loaded machine).
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            rss.append(rss_bytes())
    assert len(made) == 50
    assert all(ref() is None for ref in made), "a Figure outlived its render"
    # After a trim, RSS over renders 25-50 stays flat. A leaked 1200x600 figure keeps a
    # 2.9 MB buffer: leaking the last 25 would add ~70 MiB.
    grown = rss[1] - rss[0]
    assert grown < 24 * MIB, f"RSS grew {grown / MIB:.1f} MiB over renders 25-50"


def write_samples(directory: Path) -> list[Path]:
    """The charts in docs/charts/: the seed's two experiments, a crash loop, a digest."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = load_settings()
    mixed = mixed_cluster(200, start=START)
    result = run_check(
        source=SimulatedSource(mixed, settings), settings=settings, at=mixed.at(7200)
    )
    pngs = {
        "experiment-2-leak-file-cache.png": case(EXP2, 4).png(),
        "experiment-1-leak-oom.png": case(EXP1, 4).png(),
        "crashloop.png": case(CRASHLOOP, 2).png(),
        "digest.png": digest_chart(
            result.assessments,
            warning_ratio=settings.warning_ratio,
            critical_ratio=settings.critical_ratio,
        ),
    }
    written = []
    for name, png in pngs.items():
        path = directory / name
        path.write_bytes(png)
        written.append(path)
    return written


def test_samples_are_written(tmp_path: Path) -> None:
    """Regenerate docs/charts/ from the repository root with:

    python3 -c "from pathlib import Path; from tests.test_charts import write_samples as w
    w(Path('docs/charts'))"
    """
    written = write_samples(tmp_path)
    assert [p.name for p in written] == [
        "experiment-2-leak-file-cache.png",
        "experiment-1-leak-oom.png",
        "crashloop.png",
        "digest.png",
    ]
    for path in written:
        width, height = decoded(path.read_bytes())
        assert width == 1000 and height >= 280
