"""OOM kills: found once each, from kube-state-metrics alone or with the Kubernetes API."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot.check import run_check
from bot.delivery.charts import ChartMaker
from bot.model import ContainerRef, OomKill
from bot.oom import group_kills, kill_context, kill_times, terminations_in
from bot.scenarios import ClusterSpec, PodSpec
from bot.scenarios.behaviours import MIB
from bot.settings import load_settings
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.state.document import ChartRequest
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.k8s_standin import (
    KubeStandIn,
    container_status,
    make_deployment,
    make_pod,
    make_replicaset,
    running_state,
    terminated_state,
)

CRASHLOOP_EAST = d.OOM.pods[0]


def kill_ids(result) -> list[tuple[str, str, str, str, int]]:  # type: ignore[no-untyped-def]
    return sorted(alert.kill.identity for alert in result.oom_alerts)


def check(
    prometheus_for: PrometheusFactory,
    at: datetime,
    kube: KubeStandIn | None = None,
    **overrides: object,
):  # type: ignore[no-untyped-def]
    settings = load_settings(
        prometheus_url=prometheus_for(d.OOM).url, kubernetes_cluster="east", **overrides
    )
    kubernetes = KubernetesSource(settings, kube.api_client()) if kube else None
    return run_check(
        source=PrometheusSource(settings), settings=settings, at=at, kubernetes=kubernetes
    )


def truth_kills(cluster: ClusterSpec, pod: PodSpec, at: datetime, window: float = 900) -> list[int]:
    """Restart counts of the kills the generator made inside the window (restarted since)."""
    now = (at - cluster.start).total_seconds() - pod.started_after
    state = pod.containers[0].behaviour.state(now)
    before = pod.containers[0].behaviour.state(now - window)
    return list(range(before.restarts, state.restarts))


def test_three_kills_in_ten_minutes_are_three_alerts(prometheus_for: PrometheusFactory) -> None:
    at = d.minutes(d.OOM, 12)
    expected = truth_kills(d.OOM, CRASHLOOP_EAST, at)
    assert expected == [0, 1, 2]
    result = check(prometheus_for, at)
    east = [a.kill for a in result.oom_alerts if a.kill.ref.cluster == "east"]
    assert sorted(k.restart_count for k in east) == expected
    assert len({k.identity for k in east}) == 3


def test_the_same_cycle_twice_finds_the_same_identities(prometheus_for: PrometheusFactory) -> None:
    at = d.minutes(d.OOM, 12)
    assert kill_ids(check(prometheus_for, at)) == kill_ids(check(prometheus_for, at))


def test_two_clusters_with_the_same_pod_stay_apart(prometheus_for: PrometheusFactory) -> None:
    result = check(prometheus_for, d.minutes(d.OOM, 12))
    clusters = {
        a.kill.ref.cluster for a in result.oom_alerts if a.kill.ref.pod == CRASHLOOP_EAST.name
    }
    assert clusters == {"east", "west"}


def test_a_stale_oomkilled_reason_is_history(prometheus_for: PrometheusFactory) -> None:
    # The leak was killed at ~224 min and restarted; at 300 min KSM still says OOMKilled.
    result = check(prometheus_for, d.minutes(d.OOM, 300))
    assert not [a for a in result.oom_alerts if a.kill.ref.pod == d.LEAK.name]
    server = prometheus_for(d.OOM)
    sticky = requests.post(
        f"{server.url}/api/v1/query",
        data={
            "query": "kube_pod_container_status_last_terminated_reason"
            f'{{pod="{d.LEAK.name}", reason="OOMKilled"}}',
            "time": d.minutes(d.OOM, 300).timestamp(),
        },
        timeout=30,
    ).json()["data"]["result"]
    assert [row["value"][1] for row in sticky] == ["1"]  # the sticky gauge really is 1


def test_ten_replicas_killed_within_a_minute_are_one_group(
    prometheus_for: PrometheusFactory,
) -> None:
    result = check(prometheus_for, d.minutes(d.OOM, 230))
    replicas = [a for a in result.oom_alerts if a.kill.ref.pod.startswith("api-7d9f-")]
    assert len(replicas) == 10
    assert {a.group.key for a in replicas} == {replicas[0].group.key}
    assert replicas[0].group.workload == "deployment/api"
    assert len(replicas[0].group.kills) == 10


def test_kill_context_tells_the_leak_story(prometheus_for: PrometheusFactory) -> None:
    result = check(prometheus_for, d.minutes(d.OOM, 230))
    leak = next(a for a in result.oom_alerts if a.kill.ref.pod == d.LEAK.name)
    assert leak.context.peak_working_set_bytes is not None
    assert leak.context.peak_working_set_bytes > 0.95 * 256 * MIB
    assert "RSS climbed steadily" in leak.context.story
    # 256 MiB limit: max(peak x 1.15, 256 + 100 MiB) = 356 MiB.
    assert leak.context.suggested_limit_bytes == 356 * MIB


def _seed_api(kube: KubeStandIn, at: datetime) -> None:
    """The API's view of the east cluster at `at`, built from the same generator truth."""
    kube.add(make_deployment("batch", "resizer"))
    rs = kube.add(
        make_replicaset("batch", "resizer-3a7b", owner=("Deployment", "resizer", "uid-d"))
    )
    pod = CRASHLOOP_EAST
    now = (at - d.OOM.start).total_seconds() - pod.started_after
    state = pod.containers[0].behaviour.state(now)
    last = state.last_kill
    assert last is not None
    origin = d.OOM.start + timedelta(seconds=pod.started_after)
    kube.add(
        make_pod(
            "batch",
            pod.name,
            owner=("ReplicaSet", rs["metadata"]["name"], rs["metadata"]["uid"]),
            container_statuses=[
                container_status(
                    "app",
                    state=running_state(at),
                    last_state=terminated_state(
                        started_at=origin + timedelta(seconds=last.started_at),
                        finished_at=origin + timedelta(seconds=last.finished_at),
                    ),
                    restart_count=state.restarts,
                )
            ],
        )
    )
    # A restartPolicy: Never pod that died for good: no restart counter ever moves for it.
    kube.add(
        make_pod(
            "batch",
            "oneshot-28474830-abcde",
            restart_policy="Never",
            phase="Failed",
            container_statuses=[
                container_status(
                    "app",
                    state=terminated_state(
                        started_at=at - timedelta(minutes=8), finished_at=at - timedelta(minutes=5)
                    ),
                    restart_count=0,
                )
            ],
        )
    )


def test_api_mode_finds_the_same_kills_and_the_never_pod(prometheus_for: PrometheusFactory) -> None:
    at = d.minutes(d.OOM, 12)
    prometheus_only = check(prometheus_for, at)
    with KubeStandIn() as kube:
        _seed_api(kube, at)
        with_api = check(prometheus_for, at, kube)
        pod_reads = kube.request_count(r"/pods/")
    api_ids = kill_ids(with_api)
    never = ("east", "batch", "oneshot-28474830-abcde", "app", 0)
    assert never in api_ids
    assert sorted(set(api_ids) - {never}) == kill_ids(prometheus_only)
    # Only the pods that restarted are read, never the whole cluster.
    assert pod_reads == 1
    last = next(
        a.kill
        for a in with_api.oom_alerts
        if a.kill.identity[:3] == ("east", "batch", CRASHLOOP_EAST.name)
        and a.kill.restart_count == 2
    )
    assert last.source == "kubernetes" and last.started_at is not None
    assert last.workload == "deployment/resizer"


def test_forbidden_api_degrades_to_prometheus_only(
    prometheus_for: PrometheusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    at = d.minutes(d.OOM, 12)
    with KubeStandIn() as kube:
        _seed_api(kube, at)
        kube.forbid(r"/pods")
        with caplog.at_level(logging.WARNING):
            result = check(prometheus_for, at, kube)
    assert kill_ids(result) == kill_ids(check(prometheus_for, at))
    assert sum("refused access (403, RBAC)" in r.message for r in caplog.records) == 1


def test_expired_continue_token_is_survived(
    prometheus_for: PrometheusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    at = d.minutes(d.OOM, 12)
    with KubeStandIn() as kube:
        _seed_api(kube, at)
        kube.fail_next(method="GET", path_regex=r"^/api/v1/pods$", status=410, reason="Expired")
        with caplog.at_level(logging.INFO):
            result = check(prometheus_for, at, kube)
    assert ("east", "batch", "oneshot-28474830-abcde", "app", 0) in kill_ids(result)
    assert any("410" in r.message for r in caplog.records)


REF = ContainerRef("", "shop", "api-1", "app")


def test_kills_far_apart_are_separate_groups() -> None:
    base = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    kills = [
        OomKill(REF, 0, base, workload="deployment/api"),
        OomKill(
            ContainerRef("", "shop", "api-2", "app"),
            0,
            base + timedelta(minutes=3),
            workload="deployment/api",
        ),
        OomKill(REF, 1, base + timedelta(minutes=30), workload="deployment/api"),
    ]
    groups = group_kills(kills, window_seconds=600, at=base + timedelta(hours=1))
    assert [len(g.kills) for g in groups] == [2, 1]


def test_burst_between_scrapes_is_named() -> None:
    kill = OomKill(REF, 0, datetime.fromisoformat("2026-11-01T00:00:00+00:00"))
    points = ((0.0, 100 * MIB), (15.0, 101 * MIB))
    context = kill_context(
        kill,
        working_set=points,
        rss=points,
        cache=(),
        usage=points,
        limit_bytes=256 * MIB,
        request_bytes=None,
    )
    assert "spiked between scrapes" in context.story
    assert context.suggested_limit_bytes == 356 * MIB


def test_kills_without_an_exact_time_are_marked_by_when_they_were_seen() -> None:
    """Old kube-state-metrics (no last_terminated_timestamp): three restarts between two
    scrapes are three kills, the last at the scrape's time, the first two with none. A
    chart marks all three, as approximate, at the latest moment each can have been."""
    start = 1_000_000.0
    figures = {
        "restarts": {start: 0, start + 30: 0, start + 60: 3},
        "reason": {start + 60: ["OOMKilled"]},
    }
    ends = terminations_in(REF, figures, start=start)
    assert [(t.restart_count, t.time_exact) for t in ends] == [(0, False), (1, False), (2, False)]
    assert [t.finished_at for t in ends][:2] == [None, None]
    seen = datetime.fromtimestamp(start + 60, tz=UTC)
    assert ends[2].finished_at == seen
    # With the timestamp series, each end is exact.
    timed = terminations_in(REF, {**figures, "finished": {start + 60: start + 55}}, start=start)
    assert [t.time_exact for t in timed] == [True]

    kills = [OomKill(REF, t.restart_count, t.finished_at, time_exact=t.time_exact) for t in ends]
    later = OomKill(REF, 3, datetime.fromtimestamp(start + 500, tz=UTC))
    other = OomKill(ContainerRef("", "shop", "api-2", "app"), 9, None)
    exact, approximate = kill_times([*kills, later, other, kills[0]], REF, seen_at=start + 900)
    assert exact == [start + 500]
    assert approximate == [start + 60] * 3  # none later than the scrape that showed them
    # A kill with no time and nothing timed after it: marked when it was seen.
    assert kill_times([OomKill(REF, 4, None)], REF, seen_at=start + 900) == ([], [start + 900])


def test_an_alerts_chart_finds_the_kills_its_alert_counts(
    prometheus_for: PrometheusFactory,
) -> None:
    """A crash-loop alert says "OOM-killed 3 times"; its chart, drawn later from a request
    that knows no times, asks for them and marks the same three."""
    at = d.minutes(d.OOM, 12)
    result = check(prometheus_for, at)
    east = sorted(a.kill.restart_count for a in result.oom_alerts if a.kill.ref.cluster == "east")
    ref = next(a.kill.ref for a in result.oom_alerts if a.kill.ref.cluster == "east")
    settings = load_settings(prometheus_url=prometheus_for(d.OOM).url, kubernetes_cluster="east")
    charts = ChartMaker(PrometheusSource(settings), settings)
    start = at - timedelta(hours=1)
    found = charts._kills_in(ref, start, at)
    assert sorted(k.restart_count for k in found) == east == [0, 1, 2]
    assert all(k.ref == ref and k.finished_at is not None for k in found)
    # Fetched ahead with another chart's pod: the same kills, no query of its own.
    server = prometheus_for(d.OOM)
    requests = [
        ChartRequest(
            cluster=r.cluster,
            namespace=r.namespace,
            pod=r.pod,
            container=r.container,
            start=start.timestamp(),
            end=at.timestamp(),
            find_kills=True,
        )
        for r in (ref, ContainerRef("east", "batch", "other-pod", "app"))
    ]
    charts.prefetch(requests)
    before = server.query_requests_served()
    assert charts._kills_in(ref, start, at) == found
    assert server.query_requests_served() == before
