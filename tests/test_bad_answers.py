"""Bad Prometheus answers are "monitoring degraded", said once, and "recovered", said once;
never a crash, never a resolve in between."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.check import run_check
from bot.cycle import run_cycle
from bot.delivery.slack import SlackSender
from bot.errors import SourceError
from bot.promql import CLUSTER_WIDE
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.sqlite import SqliteStore
from tests import datasets as d
from tests.bad_prometheus import MODES, BadPrometheus
from tests.conftest import PrometheusFactory
from tests.slack_standin import SlackStandIn

CHANNEL = "#alerts"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.mark.parametrize("mode", MODES)
def test_any_bad_answer_is_degraded_once_then_recovered_once(
    mode: str, prometheus_for: PrometheusFactory, slack: SlackStandIn, tmp_path: Path
) -> None:
    with BadPrometheus(prometheus_for(d.TIMELINE).url) as prometheus:
        settings = load_settings(
            prometheus_url=prometheus.url,
            prometheus_timeout_seconds=2,
            kubernetes="off",
            slack_api_url=slack.api_url,
            slack_bot_token="xoxb-test",
            slack_channel=CHANNEL,
            slack_channel_interval_seconds=0,
        )
        source, store, sender = (
            PrometheusSource(settings),
            SqliteStore(tmp_path / "state.db"),
            SlackSender(settings),
        )

        def cycle(minute: float) -> bool:
            report = run_cycle(
                source=source,
                kubernetes=None,
                store=store,
                sender=sender,
                settings=settings,
                at=d.minutes(d.TIMELINE, minute),
            )
            return report.ok

        assert cycle(100) and cycle(185)  # watching; the warning fires
        prometheus.mode = mode
        assert [cycle(m) for m in (190, 195)] == [False, False]
        prometheus.mode = "ok"
        prometheus.release.set()
        assert cycle(200)
    texts = [m["text"].splitlines()[0] for m in slack.top_level(CHANNEL) if m["text"]]
    degraded = [t for t in texts if "Monitoring degraded" in t]
    recovered = [t for t in texts if "Monitoring recovered" in t]
    assert len(degraded) == 1 and len(recovered) == 1, texts
    assert not any("RESOLVED" in t for t in texts)


def test_retry_after_is_honoured_only_within_the_timeout() -> None:
    """A 503 asking for 20 s waits at most the request timeout; a malformed one, not at all."""
    from bot.sources.prometheus import _bounded_retry

    retry = _bounded_retry(2.0)(total=1)
    assert retry.parse_retry_after("20") == 2.0
    assert retry.parse_retry_after("1") == 1.0
    assert retry.parse_retry_after("soon-ish") == 0.0
    assert isinstance(retry.new(), type(retry))  # the cap survives urllib3's copies


def test_queries_travel_in_post_bodies_not_urls(prometheus_for: PrometheusFactory) -> None:
    """A check's detail query names every candidate pod (tens of KB on a large cluster):
    proxies refuse URLs past 8 KB, so PromQL goes in the body, as the API allows."""
    with BadPrometheus(prometheus_for(d.LARGE_FLEET).url) as prometheus:
        source = PrometheusSource(load_settings(prometheus_url=prometheus.url))
        result = run_check(source=source, settings=source.settings, at=d.minutes(d.LARGE_FLEET, 35))
        history = source.history(
            CLUSTER_WIDE, d.minutes(d.LARGE_FLEET, 5), d.minutes(d.LARGE_FLEET, 35)
        )
    assert result.containers_checked == len(d.LARGE_FLEET.pods) and history.series
    assert len(prometheus.paths) >= 4
    assert all(path in ("/api/v1/query", "/api/v1/query_range") for path in prometheus.paths)


def test_a_server_that_trickles_its_answer_fails_the_check_at_its_deadline(
    prometheus_for: PrometheusFactory,
) -> None:
    """A byte every 0.1 s never trips a read timeout; the check's own deadline ends it, in
    one line naming the setting."""
    with BadPrometheus(prometheus_for(d.TIMELINE).url) as prometheus:
        prometheus.mode = "drip"
        settings = load_settings(
            prometheus_url=prometheus.url, prometheus_timeout_seconds=2, check_timeout_seconds=3
        )
        source = PrometheusSource(settings)
        with pytest.raises(SourceError, match=r"longer than 3 s \(check_timeout_seconds\)"):
            run_check(source=source, settings=settings, at=d.minutes(d.TIMELINE, 30))
