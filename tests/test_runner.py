"""The scheduler's jobs survive their failures, and the digest reads right."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.analysis import Assessment, Thresholds, assess
from bot.clocks import WallClock
from bot.delivery.slack import SlackSender
from bot.digest import Gathered, build
from bot.errors import StateError
from bot.metrics import Metrics
from bot.model import ContainerMemory, ContainerRef, Profile
from bot.render.digest import DigestRenderer
from bot.routing import destinations
from bot.runner import Runner
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.document import DigestSummary, State
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
        clock=WallClock(),
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
    assert metrics.registry.get_sample_value("podmem_state_errors_total") == 2
    # One line, said once while it lasts; no traceback every cycle.
    failed = [r for r in caplog.records if r.getMessage().startswith("check failed: ")]
    assert len(failed) == 1 and failed[0].exc_info is None
    assert "disk I/O error" in failed[0].getMessage()
    assert runner.ready() is False


def _assessment(namespace: str, pod: str, ws: float, limit: float | None) -> Assessment:
    memory = ContainerMemory(
        ContainerRef("", namespace, pod, "app"),
        working_set_bytes=round(ws * MIB),
        working_set_floor_bytes=round(ws * MIB),
        usage_bytes=round(ws * MIB),
        limit_bytes=None if limit is None else round(limit * MIB),
    )
    return assess(memory, Thresholds())


def test_digest_names_the_top_risks_the_unlimited_and_what_to_free() -> None:
    settings = load_settings(slack_channel="#sre")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    assessments = (
        _assessment("shop", "api-1", 240, 256),
        _assessment("shop", "web-1", 50, 256),
        _assessment("batch", "report-1", 300, None),
    )
    big_request = assess(
        ContainerMemory(
            ContainerRef("", "data", "search-1", "app"),
            working_set_bytes=180 * MIB,
            working_set_floor_bytes=180 * MIB,
            limit_bytes=4096 * MIB,
            request_bytes=2048 * MIB,
        ),
        Thresholds(),
    )
    profiles = {
        big_request.memory.ref: Profile(p95_bytes=190 * MIB, peak_bytes=200 * MIB),
        assessments[0].memory.ref: Profile(p95_bytes=230 * MIB, peak_bytes=250 * MIB),
    }
    gathered = Gathered((*assessments, big_request), (), profiles, None)
    previous = {
        "#sre": DigestSummary(at=0, critical=0, warning=0, kills=0, no_limit=1, freeable_bytes=0)
    }
    (digest,) = build(gathered, settings=settings, at=at, previous=previous)
    text = DigestRenderer(settings).message(digest).text
    lines = text.splitlines()
    assert "4 containers · *1* critical (+1 since yesterday) · *0* warning" in lines[1]
    assert "• `shop/api-1` · app: *94 %*" in text
    # 2 GiB request, p95 190 MiB + 15 % = 218.5 MiB, up to a 4 Mi step: 220Mi frees 1.79 GiB.
    assert "request *220Mi* frees *1.79 GiB*" in text
    # 256 MiB limit under a 250 MiB peak + 15 %: limit 288 MiB.
    assert "limit *288Mi*" in text
    assert "*No memory limit*" in text and "`batch/report-1`" in text
    # web-1 (20 %) and search-1 (4 %) are under the 50 % floor: "closest to their limit" is
    # not a list of everyone.
    assert [a.memory.ref.pod for a in digest.top] == ["api-1"]
    assert "shop/web-1" not in text


def test_routing_by_pod_label_and_namespace_regex() -> None:
    settings = load_settings(
        slack_channel="#default",
        routes=[
            {"channel": "#payments", "pod_labels": {"app.kubernetes.io/part-of": "payments"}},
            {"channel": "#data", "namespace_regex": "data-(eu|us)"},
        ],
    )

    def channels(namespace: str, labels: dict[str, str]) -> tuple[str, ...]:
        return destinations(ContainerRef("", namespace, "p", "c"), labels, settings).channels

    assert channels("shop", {"app_kubernetes_io_part_of": "payments"}) == ("#payments",)
    assert channels("data-eu", {}) == ("#data",)
    assert channels("data-asia", {}) == ("#default",)


def test_bad_route_regex_is_a_config_error() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"routes\.0\.namespace_regex"):
        load_settings(routes=[{"channel": "#x", "namespace_regex": "(unclosed"}])


def test_digest_names_workloads_once_not_each_pod() -> None:
    settings = load_settings(slack_channel="#sre")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    replicas = tuple(
        assess(
            ContainerMemory(
                ContainerRef("", "shop", f"api-7d9f-{i}", "app"),
                working_set_bytes=(200 + i) * MIB,
                working_set_floor_bytes=(200 + i) * MIB,
                usage_bytes=(200 + i) * MIB,
                limit_bytes=256 * MIB,
                workload="deployment/api",
            ),
            Thresholds(),
        )
        for i in range(3)
    )
    (digest,) = build(Gathered(replicas, (), {}, None), settings=settings, at=at, previous={})
    text = DigestRenderer(settings).message(digest).text
    assert "• `shop/deployment/api` · app (worst of 3 replicas): *79 %*" in text
    assert "api-7d9f-" not in text
