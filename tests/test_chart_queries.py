"""The charts of one drain share their range queries: an incident that posts hundreds of
alerts must not cost a query per chart (real Prometheus, the Slack stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.check import run_check
from bot.delivery.charts import CHARTS_AHEAD, ChartMaker
from bot.delivery.outbox import drain
from bot.delivery.painter import Painter
from bot.delivery.slack import SlackSender
from bot.lifecycle import apply_check
from bot.promql import HISTORY_BATCH
from bot.render.compose import SlackComposer
from bot.settings import load_settings
from bot.slack_app.answers import Answers, Asker
from bot.sources.prometheus import PrometheusSource
from bot.state.document import ChartRequest
from bot.state.memory import MemoryStore
from bot.state.store import transact
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.slack_standin import SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def test_a_drain_draws_its_charts_from_one_query_per_50_pods(
    prometheus_for: PrometheusFactory, slack: SlackStandIn
) -> None:
    server = prometheus_for(d.LARGE_FLEET)
    settings = load_settings(
        prometheus_url=server.url,
        slack_api_url=slack.api_url,
        slack_bot_token="xoxb-test",
        slack_channel="#alerts",
        slack_channel_interval_seconds=0,
    )
    source = PrometheusSource(settings)
    store = MemoryStore()
    at = d.minutes(d.LARGE_FLEET, 35)
    result = run_check(source=source, settings=settings, at=at)
    transact(store, lambda s: apply_check(s, result, at=at.timestamp(), settings=settings))
    state, _ = store.read()
    composer = SlackComposer(settings)
    charts = [
        call.chart
        for note in state.outbox
        for call in composer.calls(note.notice, note.channel)
        if call.chart is not None
    ]
    pods = {(c.namespace, c.pod) for c in charts}
    assert len(pods) >= 20  # an incident: 20+ charts, each once a query of its own

    before = server.query_requests_served()
    report = drain(store, SlackSender(settings, charts=ChartMaker(source, settings)))

    assert report.pending == report.dead == 0
    assert len(slack.calls_to("files.completeUploadExternal")) == len(charts)
    # Memory alerts and kills posted in one cycle all end at its time, at one step. The
    # alerts of crash-looping pods mark their kills: one more query per batch of them.
    looping = {(c.namespace, c.pod) for c in charts if c.find_kills}
    assert len(looping) >= 2
    histories, terminations = -(-len(pods) // HISTORY_BATCH), -(-len(looping) // HISTORY_BATCH)
    assert server.query_requests_served() - before == histories + terminations


def test_a_chart_fetched_ahead_is_the_chart_fetched_alone(
    prometheus_for: PrometheusFactory,
) -> None:
    server = prometheus_for(d.MAIN)
    settings = load_settings(prometheus_url=server.url)
    source = PrometheusSource(settings)
    start, end = d.minutes(d.MAIN, 60).timestamp(), d.minutes(d.MAIN, 180).timestamp()
    requests = [
        ChartRequest(
            namespace=pod.namespace,
            pod=pod.name,
            container="app",
            start=start - 1800 * i,  # a kill chart starts earlier than an alert's
            end=end,
            limit_bytes=256 * 2**20,
        )
        for i, pod in enumerate(d.MAIN.pods[:3])
    ]
    ahead = ChartMaker(source, settings)
    before = server.query_requests_served()
    ahead.prefetch(requests)
    assert server.query_requests_served() - before == 1
    drawn_ahead = [ahead(r) for r in requests]
    assert server.query_requests_served() - before == 1  # nothing asked again when drawn

    alone = ChartMaker(source, settings)
    # Its start is whole steps after the shared start: the same points, the same PNG.
    assert drawn_ahead[0] == alone(requests[0])
    for png in drawn_ahead:
        assert png is not None and png.startswith(b"\x89PNG")
    # A second prefetch forgets the first: a chart is fetched ahead for one drain only.
    ahead.prefetch([])
    before = server.query_requests_served()
    ahead(requests[1])
    assert server.query_requests_served() - before == 1


def test_a_reports_chart_is_drawn_from_the_history_the_report_fetched(
    prometheus_for: PrometheusFactory,
) -> None:
    """`/podmem POD` judges the pod over its range, then draws that same range: one range
    query, not two (at 100 000 containers every query a report saves is one fewer that
    50 reports at once queue behind)."""
    server = prometheus_for(d.MAIN)
    settings = load_settings(prometheus_url=server.url)
    source = PrometheusSource(settings)
    at = d.minutes(d.MAIN, 130)
    answers = Answers(source=source, kubernetes=None, settings=settings, clock=lambda: at)
    reply = answers.slash(f"{d.FILE_CACHE.namespace}/{d.FILE_CACHE.name}", Asker("U1", "C1"))
    assert reply.chart is not None and reply.history is not None
    charts = ChartMaker(source, settings)
    before = server.query_requests_served()
    drawn = charts(reply.chart, reply.history)
    assert server.query_requests_served() == before
    assert drawn is not None and drawn == charts(reply.chart)  # which asks for itself
    assert server.query_requests_served() == before + 1
    # A history of another range is not the chart's: it asks for its own.
    later = reply.chart.model_copy(update={"start": reply.chart.start + 60})
    assert charts(later, reply.history) == charts(later)


class _Recording(Painter):
    """The bot's chart workers, noting the pod of each chart they are given."""

    def __init__(self, processes: int) -> None:
        super().__init__(processes)
        self.given: list[str] = []

    def start(self, draw: Any, *args: Any, **kwargs: Any) -> Any:
        self.given.append(args[1].pod)
        return super().start(draw, *args, **kwargs)


def test_a_drain_begins_its_next_charts_while_it_sends(prometheus_for: PrometheusFactory) -> None:
    """With chart workers, a drain's charts are begun CHARTS_AHEAD ahead of their upload, in
    its order, so the worker draws the next while the drain posts; each is the PNG drawn on
    demand. (A storm minute's 28 charts were waited for one after another.)"""
    server = prometheus_for(d.MAIN)
    settings = load_settings(prometheus_url=server.url)
    source = PrometheusSource(settings)
    start, end = d.minutes(d.MAIN, 60).timestamp(), d.minutes(d.MAIN, 180).timestamp()
    requests = [
        ChartRequest(namespace=p.namespace, pod=p.name, container="app", start=start, end=end)
        for p in d.MAIN.pods[:5]
    ]
    workers = _Recording(1)
    try:
        ahead = ChartMaker(source, settings, painter=workers)
        ahead.prefetch(requests)
        names = [r.pod for r in requests]
        assert workers.given == names[:CHARTS_AHEAD]
        first = ahead(requests[0])
        assert workers.given == names[: CHARTS_AHEAD + 1]
        drawn = [first, *(ahead(r) for r in requests[1:])]
        assert workers.given == names  # each drawn once
        here = ChartMaker(source, settings)
        assert drawn == [here(r) for r in requests]
    finally:
        workers.close()
