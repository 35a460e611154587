"""Judgement an on-call can trust, on a real Prometheus holding data shaped like real clusters:
no page for a warm-up or a hot cache, thrashing seen, per-pod thresholds, and every kind of
memory kill told apart (the limit's, the node's, an eviction, a worker process)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.analysis import Assessment
from bot.check import CheckResult, run_check
from bot.cli import main
from bot.cycle import run_cycle
from bot.delivery.slack import SlackSender
from bot.digest import build, gather
from bot.model import Verdict
from bot.promql import CLUSTER_WIDE
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.sqlite import SqliteStore
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.slack_standin import SlackStandIn

MIB = 2**20


@pytest.fixture(scope="module")
def url(prometheus_for: PrometheusFactory) -> str:
    return prometheus_for(d.JUDGEMENT).url


@pytest.fixture(scope="module")
def result(url: str) -> CheckResult:
    source = PrometheusSource(load_settings(prometheus_url=url, kubernetes="off"))
    return run_check(source=source, settings=source.settings, at=d.JUDGEMENT_AT)


def of(result: CheckResult, pod: str, container: str = "app") -> Assessment:
    return next(
        a
        for a in result.assessments
        if a.memory.ref.pod == pod and a.memory.ref.container == container
    )


def test_a_warm_up_is_not_paged(result: CheckResult) -> None:
    a = of(result, "warmup-5d8f-a1b2c")
    assert a.seconds_to_limit is not None and a.seconds_to_limit < 1800  # the old page
    assert a.age_seconds == pytest.approx(480, abs=30)
    assert a.verdict is Verdict.OK and a.warming_up
    assert "warm-up" in a.reason


def test_a_hot_cache_is_a_warning_not_a_page(result: CheckResult) -> None:
    a = of(result, "hotcache-6c7d-b2c3d")
    assert (a.working_set_to_limit or 0) > 0.9
    assert a.verdict is Verdict.WARNING and a.cache_capped
    assert "warning, not a page" in a.reason and "tmpfs" in a.reason


def test_thrashing_is_seen_through_pressure_stall(result: CheckResult) -> None:
    a = of(result, "thrash-7e8f-c3d4e")
    assert a.memory.memory_stalled_ratio == pytest.approx(0.25, abs=0.02)
    assert a.verdict is Verdict.WARNING and a.thrashing and "thrashes" in a.reason
    assert (a.usage_to_limit or 0) > 0.99 and (a.working_set_to_limit or 1) < 0.8


def test_per_pod_thresholds_and_a_bad_one(result: CheckResult) -> None:
    assert of(result, "tolerant-8a9b-d4e5f").verdict is Verdict.OK  # 85 % < its own 95 %
    assert of(result, "tolerant-8a9b-d4e5f").thresholds.warning_ratio == 0.95
    assert of(result, "typo-9b0c-e5f6a").verdict is Verdict.WARNING  # defaults apply
    (note,) = [n for n in result.notes if "typo-9b0c-e5f6a" in n]
    assert "'abc'" in note and "podmem.io/warning" in note


def test_node_kills_are_told_from_limit_kills(result: CheckResult) -> None:
    by_pod = {a.kill.ref.pod: a for a in result.oom_alerts}
    for pod in ("victim-1c2d-f6a7b", "unlimited-2d3e-a7b8c"):
        alert = by_pod[pod]
        assert alert.cause == "node" and alert.node == "node-2", pod
        assert alert.context.suggested_limit_bytes is None  # a bigger limit cannot help
        assert "will not help" in alert.context.story
        assert alert.node_top and alert.node_top[0][0] == "shop/unlimited-2d3e-a7b8c"
    assert by_pod["mixed-5a6b-d0e1f"].cause == "limit"
    assert by_pod["mixed-5a6b-d0e1f"].context.suggested_limit_bytes is not None


def test_evictions_and_worker_kills_are_reported(result: CheckResult) -> None:
    (evicted,) = result.evictions
    assert evicted.pod.pod == "evictee-3e4f-b8c9d" and evicted.node == "node-2"
    assert evicted.memory_pressure is True
    assert evicted.last_working_set_bytes == pytest.approx(200 * MIB, rel=0.05)
    (worker,) = result.process_ooms
    assert worker.assessment.memory.ref.pod == "gunicorn-4f5a-c9d0e"
    assert worker.events == 1  # one worker killed in the look-back (minute 60)


def test_a_kill_loop_is_a_warning_and_a_native_sidecar_is_seen(result: CheckResult) -> None:
    mixed = of(result, "mixed-5a6b-d0e1f")
    assert mixed.oom_kills >= 2 and mixed.verdict in (Verdict.WARNING, Verdict.CRITICAL)
    proxy = of(result, "mesh-7c8d-f2a3b", "proxy")
    assert proxy.memory.request_bytes == 64 * MIB and proxy.memory.limit_bytes == 128 * MIB
    assert any(a.kill.ref.container == "proxy" for a in result.oom_alerts)


def test_every_kill_in_the_range_with_its_time(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sticky reason says Error after every third end; the OOM kills before stay kills."""
    at = d.JUDGEMENT_AT.isoformat()
    code = main(
        ["report", "shop/mixed-5a6b-d0e1f", "--prometheus-url", url, "--kubernetes", "off",
         "--at", at, "--range", "1h", "--output", "json"]
    )  # fmt: skip
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)["containers"]
    kills = row["oom_kills"]
    behaviour = d.JUDGEMENT.pods[9].containers[0].behaviour
    truth = [
        k for k in behaviour.state(3600).kills if k.reason == "OOMKilled" and k.finished_at > 0
    ]
    assert len(kills) == len(truth) == 6  # 8 ends, 2 of them errors
    assert all(k["finished_at"] is not None for k in kills)
    assert row["verdict"] in ("warning", "critical")


def test_the_json_contract_carries_the_new_kinds(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = d.JUDGEMENT_AT.isoformat()
    code = main(
        ["check", "--dry-run", "--prometheus-url", url, "--kubernetes", "off", "--at", at,
         "--output", "json"]
    )  # fmt: skip
    assert code == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    kinds = {a["kind"] for a in alerts}
    assert kinds == {"memory", "oom_killed", "evicted", "process_oom"}
    causes = {a["pod"]: a["cause"] for a in alerts if a["kind"] == "oom_killed"}
    assert causes["victim-1c2d-f6a7b"] == "node" and causes["mixed-5a6b-d0e1f"] == "limit"
    code = main(
        ["report", "shop/thrash-7e8f-c3d4e", "--prometheus-url", url, "--kubernetes", "off",
         "--at", at, "--output", "json"]
    )  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)["containers"]
    assert row["memory_stalled_ratio"] == pytest.approx(0.25, abs=0.02)


def test_right_sizing_sees_a_four_minute_spike(url: str) -> None:
    source = PrometheusSource(load_settings(prometheus_url=url))
    profiles = source.profiles(d.JUDGEMENT_AT, CLUSTER_WIDE, window_seconds=3600, step_seconds=900)
    spiky = next(p for ref, p in profiles.items() if ref.pod == "spiky-6b7c-e1f2a")
    assert spiky.peak_bytes >= 400 * MIB  # a [1h:15m] subquery alone walks past it


def test_the_query_count_still_does_not_grow(url: str) -> None:
    """The new signals ride in the existing bundles: still 3 cluster-wide queries (after the
    one-row question which clusters' kube-state-metrics export limits)."""
    source = PrometheusSource(load_settings(prometheus_url=url, kubernetes="off"))
    run_check(source=source, settings=source.settings, at=d.JUDGEMENT_AT + timedelta(seconds=1))
    assert [len(r) for r in source.last_rounds[:2]] == [1, 3]


def test_slack_hears_each_kind_once(url: str, tmp_path: Path) -> None:
    with SlackStandIn() as slack:
        settings = load_settings(
            prometheus_url=url,
            kubernetes="off",
            slack_api_url=slack.api_url,
            slack_bot_token="xoxb-test",
            slack_channel="#alerts",
            slack_channel_interval_seconds=0,
        )
        source, store = PrometheusSource(settings), SqliteStore(tmp_path / "state.db")
        sender = SlackSender(settings)
        # Watching from minute 40: the kills at 50, the eviction at 51, the worker at 60 are news.
        for minute in (40, 60, 61):
            run_cycle(
                source=source,
                kubernetes=None,
                store=store,
                sender=sender,
                settings=settings,
                at=d.minutes(d.JUDGEMENT, minute),
            )
        texts = [m["text"].splitlines()[0] for m in slack.top_level("#alerts")]
    assert sum("OOMKilled by node node-2" in t for t in texts) == 2
    assert sum("*EVICTED*" in t and "evictee-3e4f-b8c9d" in t for t in texts) == 1
    assert sum("*PROCESS OOM*" in t and "gunicorn-4f5a-c9d0e" in t for t in texts) == 1
    assert not any("CRITICAL" in t and ("warmup" in t or "hotcache" in t) for t in texts)


def test_the_digest_suggests_no_bigger_limit_for_a_node_kill(url: str) -> None:
    settings = load_settings(prometheus_url=url, kubernetes="off", slack_channel="#a")
    source = PrometheusSource(settings)
    gathered = gather(source=source, kubernetes=None, settings=settings, at=d.JUDGEMENT_AT)
    assert {r.pod for r in gathered.node_killed} == {"victim-1c2d-f6a7b", "unlimited-2d3e-a7b8c"}
    (digest,) = build(gathered, settings=settings, at=d.JUDGEMENT_AT, previous={})
    limits = {f.ref.pod for f in digest.findings if f.kind == "limit_below_peak"}
    assert "victim-1c2d-f6a7b" not in limits and "mixed-5a6b-d0e1f" in limits


def test_the_digest_chart_colours_a_bar_by_its_pods_own_thresholds(result: CheckResult) -> None:
    from bot.render.digest_chart import _band

    tolerant, typo = of(result, "tolerant-8a9b-d4e5f"), of(result, "typo-9b0c-e5f6a")
    assert tolerant.working_set_to_limit == pytest.approx(typo.working_set_to_limit, abs=0.01)
    assert _band(tolerant) == "ok" and _band(typo) == "warning"
