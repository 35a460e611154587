"""The same check against a second PromQL engine: VictoriaMetrics (Debian's `victoria-metrics`)
holding the very data a real Prometheus holds must give the same alerts and counts.

Checked between two scrapes, as a bot's clock almost always is: at an instant that falls
exactly on a sample, the engines disagree on whether a window's first sample counts (see the
README's PromQL section).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.check import CheckResult, run_check
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.victoria_harness import VictoriaMetricsServer


@pytest.fixture(scope="module")
def engines(
    prometheus_for: PrometheusFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    prometheus = prometheus_for(d.LARGE_FLEET)
    victoria = VictoriaMetricsServer(
        None,
        Path(tmp_path_factory.mktemp("victoria")),
        openmetrics=prometheus.workdir / "data.om",
    )
    try:
        yield prometheus.url, victoria.url
    finally:
        victoria.stop()


def check(url: str, minutes: float) -> CheckResult:
    source = PrometheusSource(load_settings(prometheus_url=url))
    return run_check(source=source, settings=source.settings, at=d.minutes(d.LARGE_FLEET, minutes))


def told(result: CheckResult) -> set[tuple[str, ...]]:
    """What the check would tell: each alert's container and severity, each kill's."""
    memory = {
        (x.assessment.memory.ref.pod, x.assessment.memory.ref.container, x.severity)
        for x in result.alerts
    }
    kills = {
        (k.kill.ref.pod, k.kill.ref.container, str(k.kill.restart_count)) for k in result.oom_alerts
    }
    return memory | kills


@pytest.mark.parametrize("minutes", [20.5, 35.5])
def test_victoriametrics_gives_the_check_prometheus_gives(
    engines: tuple[str, str], minutes: float
) -> None:
    prometheus, victoria = (check(url, minutes) for url in engines)
    assert prometheus.alerts  # the fleet has leaks: an empty answer would prove nothing
    assert victoria.containers_checked == prometheus.containers_checked == 1000
    assert victoria.verdicts == prometheus.verdicts
    assert told(victoria) == told(prometheus)
