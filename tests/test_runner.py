"""The scheduler's jobs survive their failures, and the digest reads right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.analysis import Thresholds, assess
from bot.check import CheckResult
from bot.delivery.slack import SlackSender
from bot.digest import digest_text
from bot.metrics import Metrics
from bot.model import ContainerMemory, ContainerRef
from bot.routing import channel_for
from bot.runner import Runner
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.document import State, StateError
from tests.prometheus_harness import free_port

MIB = 2**20


class BrokenStore:
    """A store whose disk is gone: every operation fails as SQLite would."""

    def read(self) -> tuple[State, str]:
        raise StateError("cannot open state file: disk I/O error")

    def write(self, state: State, version: str) -> str:
        raise StateError("cannot write state file: disk I/O error")


def test_a_failing_job_is_logged_counted_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(prometheus_url=f"http://127.0.0.1:{free_port()}", slack_channel="#a")
    metrics = Metrics()
    runner = Runner(
        settings,
        clock=lambda: datetime.now(UTC),
        store=BrokenStore(),
        source=PrometheusSource(settings),
        kubernetes=None,
        sender=SlackSender(settings),
        metrics=metrics,
    )
    runner.check_job()
    runner.check_job()
    errors = metrics.registry.get_sample_value("podmem_job_errors_total", {"job": "check"})
    assert errors == 2
    assert "check job failed" in caplog.text
    assert runner.ready() is False


def _assessment(namespace: str, pod: str, ws: float, limit: float | None) -> object:
    memory = ContainerMemory(
        ContainerRef("", namespace, pod, "app"),
        working_set_bytes=round(ws * MIB),
        working_set_floor_bytes=round(ws * MIB),
        usage_bytes=round(ws * MIB),
        limit_bytes=None if limit is None else round(limit * MIB),
    )
    return assess(memory, Thresholds())


def test_digest_names_the_top_risks_and_the_unlimited() -> None:
    result = CheckResult(
        datetime(2026, 11, 1, tzinfo=UTC),
        (
            _assessment("shop", "api-1", 240, 256),  # type: ignore[arg-type]
            _assessment("shop", "web-1", 50, 256),  # type: ignore[arg-type]
            _assessment("batch", "report-1", 300, None),  # type: ignore[arg-type]
        ),
        (),
    )
    text = digest_text(result, kills_last_day=3)
    lines = text.splitlines()
    assert "3 containers · 1 critical · 0 warning · 3 OOM kill(s) in 24 h" in lines[0]
    assert lines[2].startswith("• shop/api-1 · app: 94 %")
    assert "1 container(s) have no memory limit." in text


def test_routing_by_pod_label_and_namespace_regex() -> None:
    settings = load_settings(
        slack_channel="#default",
        routes=[
            {"channel": "#payments", "pod_labels": {"app.kubernetes.io/part-of": "payments"}},
            {"channel": "#data", "namespace_regex": "data-(eu|us)"},
        ],
    )
    assert channel_for("shop", {"app_kubernetes_io_part_of": "payments"}, settings) == "#payments"
    assert channel_for("data-eu", {}, settings) == "#data"
    assert channel_for("data-asia", {}, settings) == "#default"


def test_bad_route_regex_is_a_config_error() -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match=r"routes\.0\.namespace_regex"):
        load_settings(routes=[{"channel": "#x", "namespace_regex": "(unclosed"}])
