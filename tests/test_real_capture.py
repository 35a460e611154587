"""The real kubelet + kube-state-metrics capture (Kubernetes 1.35, cgroup v2) replayed into a
real Prometheus and read through `report` and `check`: real label sets, pause containers,
pod-level cgroups and unlimited containers reporting a limit of 0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.fixture_replay import replay
from tests.prometheus_harness import PrometheusServer

START, END, WRITE = replay()
AT = (END - (END - START) / 2).isoformat()  # inside the replayed history


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = PrometheusServer(WRITE, Path(tmp_path_factory.mktemp("capture")))  # type: ignore[arg-type]
    yield server.url
    server.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code = main([*argv, "--kubernetes", "off", "--at", AT, "--output", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_check_reads_every_real_container_once(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data, err = run(capsys, "check", "--dry-run", "--prometheus-url", url)
    assert code == 0, err
    assert err == ""  # kube-state-metrics is there: no note
    # 17 running containers, no pause container, no pod-level cgroup; plus 3 that Kubernetes
    # knows (limits in kube-state-metrics) and cAdvisor does not: two finished CronJob pods
    # and one still creating. They are no_data, never an alert.
    assert data["containers_checked"] == 20
    assert data["alerts"] == []  # a quiet node: nothing to say
    code, report, _ = run(
        capsys, "report", "scraper/e2e-cronjob-29707813-dhlr2", "--prometheus-url", url
    )
    assert code == 0 and report["containers"][0]["verdict"] == "no_data"


def test_report_of_a_real_pod(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, err = run(
        capsys, "report", "kube-system/coredns-7d764666f9-qdcxt", "--prometheus-url", url
    )
    assert code == 0, err
    (row,) = data["containers"]
    assert row["container"] == "coredns"
    assert row["working_set_bytes"] == 16232448  # the capture's own value, not doubled
    assert row["limit_bytes"] == 170 * 2**20 and row["limit_source"] == "kube-state-metrics v2"
    assert row["request_bytes"] == 70 * 2**20
    assert row["verdict"] == "ok" and row["memory_stalled_ratio"] is None  # no PSI exported
    assert row["workload"] is not None


def test_an_unlimited_real_container_is_no_limit(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """cgroup v2 reports an unlimited container's limit as 0: not a limit."""
    code, data, err = run(
        capsys, "report", "kube-system/etcd-datagen-1-35", "--prometheus-url", url
    )
    assert code == 0, err
    (row,) = data["containers"]
    assert row["limit_bytes"] is None and row["verdict"] == "no_limit"
