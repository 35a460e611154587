"""Drawing a queued chart at delivery time: a PNG from a range query shared with the other
charts of the same drain."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from bot.analysis import Assessment, Thresholds, assess
from bot.delivery.painter import Painter
from bot.errors import SourceError
from bot.model import (
    ContainerMemory,
    ContainerRef,
    History,
    OomKill,
    Termination,
    Verdict,
)
from bot.promql import HISTORY_BATCH, Scope, range_step_seconds
from bot.render.digest_chart import digest_chart
from bot.render.memory_chart import memory_chart
from bot.settings import Settings
from bot.sources.base import MemorySource
from bot.state.document import Bar, ChartRequest

log = logging.getLogger(__name__)
# Charts a drain has begun drawing ahead of their upload, in worker processes: the worker
# draws the next while the drain posts messages and writes the state (a storm minute's 28
# charts were ~100 ms each, waited for one after another). A few: a report's chart queues
# behind them, and each holds its PNG until uploaded.
CHARTS_AHEAD = 3


class ChartMaker:
    """Draws what a ChartRequest asks for: a container's memory, or the digest's bars."""

    def __init__(
        self, source: MemorySource, settings: Settings, *, painter: Painter | None = None
    ) -> None:
        """`painter`: where the PNGs are drawn (default: on the calling thread)."""
        self.source, self.settings = source, settings
        self.paint = painter if painter is not None else Painter(0)
        # Histories fetched ahead for the charts of this drain, by (namespace, pod, start, end).
        self._ahead: dict[tuple[str, str, float, float], History] = {}
        # Terminations fetched ahead for charts that find their kills, by (namespace, pod).
        self._ends_ahead: dict[tuple[str, str], list[Termination]] = {}
        # The drain's charts still to draw, in its order, and those begun ahead (by request).
        self._to_draw: list[ChartRequest] = []
        self._begun: dict[str, Callable[[], bytes | None]] = {}

    def prefetch(self, requests: Iterable[ChartRequest]) -> None:
        """Fetch the histories of the charts a drain is about to draw, HISTORY_BATCH pods per
        range query: an incident that posts 300 alerts costs 6 queries, not 300. Charts that
        end together at the same step share a query over the earliest start (the step
        grows with the span, so the longest span of a group keeps the group's step)."""
        self._ahead, self._begun = {}, {}
        requests = list(requests)
        self._prefetch_ends([r for r in requests if r.bars is None and r.find_kills])
        groups: dict[tuple[float, float], list[ChartRequest]] = defaultdict(list)
        for r in requests:
            if r.bars is None and r.end > r.start:
                groups[(r.end, range_step_seconds(r.end - r.start))].append(r)
        for (end, _), members in groups.items():
            if len(members) < 2:
                continue  # a lone chart asks for itself when drawn
            start = _time(min(r.start for r in members))
            pods = sorted({(r.namespace, r.pod) for r in members})
            for i in range(0, len(pods), HISTORY_BATCH):
                batch = pods[i : i + HISTORY_BATCH]
                try:
                    history = self.source.history(Scope(pods=tuple(batch)), start, _time(end))
                except SourceError as error:  # each chart will ask again for itself
                    log.warning("charts not fetched ahead: %s", error)
                    return
                wanted = set(batch)
                for r in members:
                    if (r.namespace, r.pod) in wanted:
                        self._ahead[_key(r)] = history.of_pod(
                            r.namespace, r.pod, _time(r.start), _time(r.end)
                        )
        # Only where the drawing is done elsewhere: in the caller it would only come sooner.
        self._to_draw = [r for r in requests if r.bars is None] if self.paint.processes else []
        self._draw_ahead()

    def _draw_ahead(self) -> None:
        while self._to_draw and len(self._begun) < CHARTS_AHEAD:
            request = self._to_draw.pop(0)
            self._begun.setdefault(request.model_dump_json(), self._begin(request))

    def _prefetch_ends(self, requests: list[ChartRequest]) -> None:
        """The terminations of the pods whose charts mark their alert's kills, HISTORY_BATCH
        pods per range query over all their ranges: a crash-looping rollout's alerts cost a
        query per batch, not one each."""
        self._ends_ahead = {}
        if len(requests) < 2:
            return  # a lone chart asks for itself when drawn
        start, end = _time(min(r.start for r in requests)), _time(max(r.end for r in requests))
        pods = sorted({(r.namespace, r.pod) for r in requests})
        for i in range(0, len(pods), HISTORY_BATCH):
            batch = pods[i : i + HISTORY_BATCH]
            try:
                found = self.source.terminations(Scope(pods=tuple(batch)), start, end)
            except SourceError as error:  # each chart will ask again for itself
                log.warning("kills for charts not fetched ahead: %s", error)
                return
            for pod in batch:
                self._ends_ahead[pod] = []
            for t in found:
                self._ends_ahead.setdefault((t.ref.namespace, t.ref.pod), []).append(t)

    def __call__(self, request: ChartRequest, history: History | None = None) -> bytes | None:
        """The PNG, or None when the history cannot be read now (the upload is retried).
        `history`: the pod's, over the request's range, if the caller has it already (a
        report fetched it to judge the pod)."""
        return self.start(request, history)()

    def start(
        self, request: ChartRequest, history: History | None = None
    ) -> Callable[[], bytes | None]:
        """Fetch what the chart needs and begin drawing it; the returned function waits for
        the PNG (or None, as `__call__`). Meanwhile the caller can post the message the
        chart goes with."""
        if history is None and self._begun:
            begun = self._begun.pop(request.model_dump_json(), None)
            if begun is not None:
                self._draw_ahead()
                return begun
        return self._begin(request, history)

    def _begin(
        self, request: ChartRequest, history: History | None = None
    ) -> Callable[[], bytes | None]:
        if request.bars is not None:
            return self.paint.start(
                digest_chart,
                bar_assessments(request.bars, self.settings),
                warning_ratio=self.settings.warning_ratio,
                critical_ratio=self.settings.critical_ratio,
                top=len(request.bars),
            )
        ref = ContainerRef(request.cluster, request.namespace, request.pod, request.container)
        start, end = _time(request.start), _time(request.end)
        if history is not None and not _same_range(history, request):
            history = None  # another range: not the one asked for
        if history is None:
            history = self._ahead.pop(_key(request), None)
        if history is None:
            try:
                history = self.source.history(Scope(request.namespace, request.pod), start, end)
            except SourceError as error:
                log.warning("chart for %s not drawn yet: %s", ref.pod_name, error)
                return lambda: None
        # Numbered in time order: each mark stays its own kill, where it was placed.
        marks = sorted(
            [(t, True) for t in request.kills] + [(t, False) for t in request.approximate_kills]
        )
        kills = [
            OomKill(ref, index, _time(t), time_exact=exact)
            for index, (t, exact) in enumerate(marks)
        ]
        if request.find_kills:
            try:
                kills += self._kills_in(ref, start, end)
            except SourceError as error:  # a chart without the kills its alert names would lie
                log.warning("chart for %s not drawn yet: %s", ref.pod_name, error)
                return lambda: None
        return self.paint.start(
            memory_chart,
            history,
            ref,
            limit_bytes=request.limit_bytes,
            request_bytes=request.request_bytes,
            kills=kills,
            timezone=self.settings.timezone,
        )

    def _kills_in(self, ref: ContainerRef, start: datetime, end: datetime) -> list[OomKill]:
        """`ref`'s OOM kills in the range, as kube-state-metrics kept them (fetched ahead, or
        asked for now)."""
        ends = self._ends_ahead.get((ref.namespace, ref.pod))
        if ends is None:
            ends = self.source.terminations(Scope(ref.namespace, ref.pod), start, end)
        return [
            OomKill(ref, t.restart_count, t.finished_at, time_exact=t.time_exact)
            for t in ends
            if t.ref == ref
            and t.reason == "OOMKilled"
            and (t.finished_at is None or start <= t.finished_at <= end)
        ]


def bar_assessments(bars: list[Bar], settings: Settings) -> list[Assessment]:
    """The digest's bars judged again for drawing, each keeping the verdict the digest
    counted it by: a bar has no trend or floor, so judging afresh could tell another."""
    base = Thresholds.from_settings(settings)
    assessments = []
    for b in bars:
        judged = assess(
            ContainerMemory(
                ContainerRef(b.cluster, b.namespace, b.pod, b.container),
                working_set_bytes=b.working_set_bytes,
                usage_bytes=b.usage_bytes,
                limit_bytes=b.limit_bytes,
                workload=b.workload,
            ),
            replace(
                base,
                warning_ratio=b.warning_ratio or base.warning_ratio,
                critical_ratio=b.critical_ratio or base.critical_ratio,
            ),
        )
        counted = judged if b.verdict is None else replace(judged, verdict=Verdict(b.verdict))
        assessments.append(counted)
    return assessments


def _same_range(history: History, request: ChartRequest) -> bool:
    """To the millisecond: a request keeps its range as Unix seconds (a float)."""
    return (
        abs(history.start.timestamp() - request.start) < 1e-3
        and abs(history.end.timestamp() - request.end) < 1e-3
    )


def _key(request: ChartRequest) -> tuple[str, str, float, float]:
    return (request.namespace, request.pod, request.start, request.end)


def _time(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, tz=UTC)
