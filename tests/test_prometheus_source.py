"""The memory engine against a real Prometheus holding generated data."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

import pytest

from bot.analysis import Thresholds, assess
from bot.check import MEMORY_FIELDS, run_check, with_breakdown
from bot.kills import kill_counts
from bot.model import ContainerMemory, Snapshot, Verdict
from bot.policy import assess_all
from bot.promql import CLUSTER_WIDE, Scope
from bot.scenarios import ClusterSpec, PodSpec, write_openmetrics
from bot.scenarios.behaviours import MIB
from bot.settings import load_settings
from bot.sources.prometheus import NO_KUBE_STATE_METRICS, PrometheusSource
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import PrometheusServer


def source_for(prometheus_for: PrometheusFactory, cluster: ClusterSpec) -> PrometheusSource:
    return PrometheusSource(load_settings(prometheus_url=prometheus_for(cluster).url))


def row(
    snapshot: Snapshot, pod: PodSpec, container: str = "app", cluster: str = ""
) -> ContainerMemory:
    for memory in snapshot.containers:
        ref = memory.ref
        if (ref.cluster, ref.namespace, ref.pod, ref.container) == (
            cluster,
            pod.namespace,
            pod.name,
            container,
        ):
            return memory
    raise AssertionError(f"{pod.namespace}/{pod.name}/{container} not in snapshot")


def truth(cluster: ClusterSpec, pod: PodSpec, at: datetime, container: int = 0):  # type: ignore[no-untyped-def]
    seconds = (at - cluster.start).total_seconds() - pod.started_after
    sample = pod.containers[container].behaviour.state(seconds).sample
    assert sample is not None
    return sample


def test_experiment_2_usage_pinned_is_cache_heavy_not_an_alert(
    prometheus_for: PrometheusFactory,
) -> None:
    source = source_for(prometheus_for, d.MAIN)
    at = d.minutes(d.MAIN, 130)
    memory = row(source.snapshot(at, CLUSTER_WIDE), d.FILE_CACHE)
    expected = truth(d.MAIN, d.FILE_CACHE, at)
    a = assess(memory, Thresholds())
    assert a.usage_to_limit is not None and a.usage_to_limit > 0.99
    assert 0.6 <= (a.working_set_to_limit or 0) <= 0.7
    assert a.verdict is Verdict.CACHE_HEAVY
    assert a.reclaimable_bytes == pytest.approx(expected.inactive_cache, abs=1.0)
    assert "no OOM risk" in a.reason
    result = run_check(source=source, settings=source.settings, at=at)
    assert all(alert.assessment.memory.ref.pod != d.FILE_CACHE.name for alert in result.alerts)


def test_experiment_1_is_critical_with_a_true_trend(prometheus_for: PrometheusFactory) -> None:
    source = source_for(prometheus_for, d.MAIN)
    at = d.minutes(d.MAIN, 206)
    memory = row(source.snapshot(at, CLUSTER_WIDE), d.LEAK)
    a = assess(memory, Thresholds())
    expected = truth(d.MAIN, d.LEAK, at)
    rate = d.LEAK.containers[0].behaviour.rate  # type: ignore[attr-defined]
    limit = d.LEAK.containers[0].limit
    assert limit is not None
    assert (a.working_set_to_limit or 0) > 0.9
    assert a.verdict is Verdict.CRITICAL
    assert memory.growth_bytes_per_second == pytest.approx(rate, rel=0.2)
    assert a.seconds_to_limit == pytest.approx((limit - expected.working_set) / rate, rel=0.2)
    result = run_check(source=source, settings=source.settings, at=at)
    assert [a.memory.ref.pod for a in (x.assessment for x in result.alerts)].count(d.LEAK.name) == 1


def test_pause_and_pod_level_series_never_add(prometheus_for: PrometheusFactory) -> None:
    source = source_for(prometheus_for, d.MAIN)
    at = d.minutes(d.MAIN, 100)
    snapshot = source.snapshot(at, CLUSTER_WIDE)
    # Duplicate (two scrape jobs), pod-level and pause series exist in the data; none counts.
    assert {m.ref.container for m in snapshot.containers} == {"app", "sidecar"}
    for pod in (d.LEAK, d.STEADY):
        assert row(snapshot, pod).working_set_bytes == pytest.approx(
            truth(d.MAIN, pod, at).working_set, abs=1.0
        )


def test_two_containers_are_two_rows(prometheus_for: PrometheusFactory) -> None:
    snapshot = source_for(prometheus_for, d.MAIN).snapshot(d.minutes(d.MAIN, 60), CLUSTER_WIDE)
    app, sidecar = (
        row(snapshot, d.TWO_CONTAINERS, "app"),
        row(snapshot, d.TWO_CONTAINERS, "sidecar"),
    )
    assert (app.limit_bytes, sidecar.limit_bytes) == (512 * MIB, 64 * MIB)
    assert app.working_set_bytes and sidecar.working_set_bytes
    assert app.working_set_bytes > 5 * sidecar.working_set_bytes


def test_no_limit_has_request_ratio(prometheus_for: PrometheusFactory) -> None:
    memory = row(
        source_for(prometheus_for, d.MAIN).snapshot(d.minutes(d.MAIN, 60), CLUSTER_WIDE), d.NO_LIMIT
    )
    a = assess(memory, Thresholds())
    assert memory.limit_bytes is None
    assert a.verdict is Verdict.NO_LIMIT
    assert a.working_set_to_request == pytest.approx(1.5, rel=0.05)


@pytest.mark.parametrize("minute", [60, 130, 206])
def test_ksm_v1_and_v2_give_the_same_numbers(
    prometheus_for: PrometheusFactory, minute: int
) -> None:
    at = d.minutes(d.MAIN, minute)
    v2 = source_for(prometheus_for, d.MAIN).snapshot(at, CLUSTER_WIDE)
    v1 = source_for(prometheus_for, d.KSM_V1).snapshot(at, CLUSTER_WIDE)

    def figures(s: Snapshot) -> list[tuple[object, ...]]:
        return [
            (m.ref, m.working_set_bytes, m.limit_bytes, m.request_bytes, m.restarts)
            for m in s.containers
        ]

    assert figures(v1) == figures(v2)
    assert {m.limit_source for m in v2.containers} == {"kube-state-metrics v2", None}
    assert {m.limit_source for m in v1.containers} == {"kube-state-metrics v1", None}


def test_without_ksm_cadvisor_gives_the_limit(prometheus_for: PrometheusFactory) -> None:
    snapshot = source_for(prometheus_for, d.NO_KSM).snapshot(d.minutes(d.NO_KSM, 60), CLUSTER_WIDE)
    leak, no_limit = row(snapshot, d.LEAK), row(snapshot, d.NO_LIMIT)
    assert (leak.limit_bytes, leak.limit_source) == (256 * MIB, "cAdvisor")
    # cgroup v2 reports "unlimited" as 0: that is no limit, not a zero limit.
    assert no_limit.limit_bytes is None
    # cgroup v2 nodes export no swap series here: unknown, not zero, not an error.
    assert leak.swap_bytes is None
    assert leak.request_bytes is None


@pytest.mark.parametrize(
    ("cluster", "pod", "whole_cluster_asked", "noted"),
    [
        (d.MAIN, d.LEAK.name, False, False),  # its own series prove kube-state-metrics
        (d.MAIN, "gone-5c4b-q1", True, False),  # a pod it does not describe proves nothing
        (d.NO_KSM, d.LEAK.name, True, True),
    ],
)
def test_a_pods_snapshot_proves_kube_state_metrics_from_its_own_series(
    prometheus_for: PrometheusFactory,
    cluster: ClusterSpec,
    pod: str,
    whole_cluster_asked: bool,
    noted: bool,
) -> None:
    """A report asks whether kube-state-metrics is scraped of its pod's series: asked of
    every pod, one report cost Prometheus 0.6 s of CPU at 100 000 containers."""
    source = source_for(prometheus_for, cluster)
    snapshot = source.snapshot(d.minutes(cluster, 60), Scope(namespace="default", pod=pod))
    asked = " ".join(query for round_ in source.last_rounds for query in round_)
    assert ("group(kube_pod_info)" in asked) is whole_cluster_asked
    assert (NO_KUBE_STATE_METRICS in snapshot.notes) is noted


def test_two_clusters_stay_apart(prometheus_for: PrometheusFactory) -> None:
    at = d.minutes(d.MULTI, 200)
    snapshot = source_for(prometheus_for, d.MULTI).snapshot(at, CLUSTER_WIDE)
    east, west = (row(snapshot, pod, cluster=pod.cluster) for pod in d.MULTI.pods)
    assert len(snapshot.containers) == 2
    assert east.working_set_bytes == pytest.approx(
        truth(d.MULTI, d.MULTI.pods[0], at).working_set, abs=1
    )
    assert west.working_set_bytes == pytest.approx(
        truth(d.MULTI, d.MULTI.pods[1], at).working_set, abs=1
    )
    assert east.limit_bytes == 512 * MIB and west.limit_bytes == 256 * MIB


def _east_with_ksm_west_without(out: TextIO) -> None:
    """d.MULTI's two clusters in one Prometheus; only east runs kube-state-metrics."""
    east, west = d.MULTI.pods
    for spec in (replace(d.MULTI, pods=(east,)), replace(d.MULTI, pods=(west,), ksm="none")):
        text = io.StringIO()
        write_openmetrics(spec, text)
        out.write(text.getvalue().removesuffix("# EOF\n"))
    out.write("# EOF\n")


def test_cadvisor_limits_are_asked_only_of_clusters_without_ksm_limits(tmp_path: Path) -> None:
    """Where kube-state-metrics exports limits, a container it gives none has none: the
    cAdvisor fallback (every container's cgroup limit, in every comparison with the limit)
    is asked of the other clusters only. West, without kube-state-metrics, still has its
    limit from cAdvisor; east's comes from kube-state-metrics and cAdvisor is not asked."""
    server = PrometheusServer(_east_with_ksm_west_without, tmp_path)
    try:
        source = PrometheusSource(load_settings(prometheus_url=server.url))
        at = d.minutes(d.MULTI, 200)
        for candidates in (False, True):
            snapshot = source.snapshot(at, CLUSTER_WIDE, candidates=candidates)
            east, west = (row(snapshot, pod, cluster=pod.cluster) for pod in d.MULTI.pods)
            assert (east.limit_bytes, east.limit_source) == (512 * MIB, "kube-state-metrics v2")
            assert (west.limit_bytes, west.limit_source) == (256 * MIB, "cAdvisor")
            assert source.queries.ksm_limit_clusters == {"east"}
            asked = " ".join(q for round_ in source.last_rounds for q in round_)
            fallback = 'container_spec_memory_limit_bytes{container!="", container!="POD"'
            assert f'{fallback}, cluster!~"east"}}' in asked and f"{fallback}}}" not in asked
            # Its limits prove kube-state-metrics is scraped: every pod's series are not read.
            assert "group(kube_pod_info)" not in asked and snapshot.notes == ()
    finally:
        server.stop()


def test_names_of_pods_long_gone_are_not_kept(prometheus_for: PrometheusFactory) -> None:
    """Answers intern their namespaces and pod names; a long-running bot sees every pod a
    rollout ever made, so each cluster-wide snapshot starts a fresh table: what it holds is
    what the current answers named."""
    source = source_for(prometheus_for, d.SMALL_FLEET)
    gone = {f"api-7d9f-{i:05d}": f"api-7d9f-{i:05d}" for i in range(10_000)}
    source._strings.update(gone)  # as if an earlier month's pods had been interned
    source.snapshot(d.minutes(d.SMALL_FLEET, 30), CLUSTER_WIDE, candidates=True)
    assert not gone.keys() & source._strings.keys()
    assert len(source._strings) <= 3 * len(d.SMALL_FLEET.pods) + 10


def test_query_count_does_not_grow_with_the_cluster(prometheus_for: PrometheusFactory) -> None:
    """1 question (which clusters' kube-state-metrics export limits, one row each), then
    3 cluster-wide queries at any size (the candidates near their limit, the counts of
    every container, and one bundle of the other candidates: racing, stalled, restarted,
    killed, evicted, annotated); then one query per 400 candidate pods for their breakdown;
    then range queries only for what happened: one for the termination history of every
    restarted container (filtered server-side), one per 50 pods with a new OOM kill (its
    story) and one for the killed pods' nodes."""
    rounds = []
    for fleet in (d.SMALL_FLEET, d.LARGE_FLEET):
        server = prometheus_for(fleet)
        source = PrometheusSource(load_settings(prometheus_url=server.url))
        before = server.query_requests_served()
        result = run_check(source=source, settings=source.settings, at=d.minutes(fleet, 35))
        assert result.containers_checked == len(fleet.pods)
        killed = {(a.kill.ref.namespace, a.kill.ref.pod) for a in result.oom_alerts}
        assert killed or fleet is d.SMALL_FLEET  # the large fleet does have OOM kills
        instant = sum(len(r) for r in source.last_rounds)
        restarted = {
            (a.memory.ref.namespace, a.memory.ref.pod)
            for a in result.assessments
            if a.memory.restarts_in_window
        }
        ranges = (1 if restarted else 0) + -(-len(killed) // 50) + (1 if killed else 0)
        assert len(source.last_ranges) == ranges
        assert server.query_requests_served() - before == instant + ranges
        rounds.append([len(r) for r in source.last_rounds])
    assert rounds[0][:2] == rounds[1][:2] == [1, 3]
    assert all(len_ <= 1 for sizes in rounds for len_ in sizes[2:])


def test_the_check_asks_for_candidates_and_judges_as_if_it_saw_everyone(
    prometheus_for: PrometheusFactory,
) -> None:
    """Prometheus picks the containers that may matter and counts the rest: the alerts, the
    verdict counts and every candidate's figures are those of judging every container."""
    fleet = d.LARGE_FLEET
    source = PrometheusSource(load_settings(prometheus_url=prometheus_for(fleet).url))
    at = d.minutes(fleet, 35)
    result = run_check(source=source, settings=source.settings, at=at)
    everyone, _ = assess_all(
        source.snapshot(at, CLUSTER_WIDE).containers,
        Thresholds.from_settings(source.settings),
        at=at,
        oom_kills=kill_counts(result.kills),
    )
    assert len(result.assessments) < len(everyone) / 2  # the rest were only counted
    assert result.verdicts == Counter(a.verdict for a in everyone)
    assert {x.assessment.memory.ref for x in result.alerts} == {
        a.memory.ref for a in everyone if a.verdict.is_alert and not a.memory.ignored
    }
    full = {a.memory.ref: a for a in everyone}
    # Figures only a shown pod gets (a cluster-wide snapshot leaves them out) aside, each
    # candidate's figures are what everyone's snapshot says; it carries those judging needs
    # (the rest of its breakdown is None), and the breakdown of the containers shown is all
    # of it.
    shown_only = (
        "started_at",
        "memory_stalled_ratio",
        "oom_events_total",
        "last_working_set_bytes",
    )
    assert result.partial
    assert any(a.memory.cache_bytes is None for a in result.assessments)
    for a in result.assessments:
        assert a.verdict is full[a.memory.ref].verdict
        assert_figures(a.memory, full[a.memory.ref].memory, skip=shown_only, known_only=True)
    refs = [a.memory.ref for a in result.assessments]
    shown = with_breakdown(result, source=source, refs=refs)
    assert [a.verdict for a in shown.assessments] == [a.verdict for a in result.assessments]
    for a in shown.assessments:
        assert_figures(a.memory, full[a.memory.ref].memory, skip=shown_only)
    assert all(a.memory.cache_bytes is not None for a in shown.assessments)


def test_replica_counts_are_of_the_candidates_workloads_counting_every_pod(
    prometheus_for: PrometheusFactory,
) -> None:
    """ "3 of 5 replicas": every pod of a candidate's workload is counted, in Prometheus, and
    only the candidates' workloads answer (not every workload of their namespaces)."""
    fleet = d.LARGE_FLEET
    source = PrometheusSource(load_settings(prometheus_url=prometheus_for(fleet).url))
    at = d.minutes(fleet, 35)
    candidates = source.snapshot(at, CLUSTER_WIDE, candidates=True)
    pods = {
        (m.ref.cluster, m.ref.namespace, m.ref.pod): m.workload
        for m in source.snapshot(at, CLUSTER_WIDE).containers
    }
    every = Counter((c, ns, workload) for (c, ns, _), workload in pods.items())
    theirs = {(m.ref.cluster, m.ref.namespace, m.workload) for m in candidates.containers}
    assert candidates.replicas == {w: every[w] for w in theirs}
    assert len(theirs) < len({(c, ns, w) for c, ns, w in every if ns in {n for _, n, _ in theirs}})


def assert_figures(
    mine: ContainerMemory,
    theirs: ContainerMemory,
    *,
    skip: tuple[str, ...],
    known_only: bool = False,
) -> None:
    """Each figure as the other snapshot has it (a slope to float precision: a check may
    derive it from the time to the limit); with `known_only`, those `mine` has."""
    for name in MEMORY_FIELDS:
        value, expected = getattr(mine, name), getattr(theirs, name)
        if name in skip or (known_only and value is None):
            continue
        if isinstance(value, float):
            assert value == pytest.approx(expected), (mine.ref, name)
        else:
            assert value == expected, (mine.ref, name)


def test_the_closest_to_their_limit_are_ranked_by_prometheus(
    prometheus_for: PrometheusFactory,
) -> None:
    fleet = d.SMALL_FLEET
    source = PrometheusSource(load_settings(prometheus_url=prometheus_for(fleet).url))
    at = d.minutes(fleet, 35)
    everyone = [m for m in source.snapshot(at, CLUSTER_WIDE).containers if m.limit_bytes]
    everyone.sort(key=lambda m: -(m.working_set_bytes or 0) / (m.limit_bytes or 1))
    assert source.closest_to_limit(at, CLUSTER_WIDE, 3) == [m.ref for m in everyone[:3]]


def test_history_is_one_range_query_per_pod(prometheus_for: PrometheusFactory) -> None:
    from bot.promql import Scope

    server = prometheus_for(d.MAIN)
    source = PrometheusSource(load_settings(prometheus_url=server.url))
    before = server.query_requests_served()
    history = source.history(
        Scope("default", d.LEAK.name), d.minutes(d.MAIN, 0), d.minutes(d.MAIN, 180)
    )
    assert server.query_requests_served() - before == 1
    points = history.of(
        row(source.snapshot(d.minutes(d.MAIN, 180), CLUSTER_WIDE), d.LEAK).ref, "working_set"
    )
    assert len(points) > 100
    assert points[-1][1] > points[0][1]  # the leak grows


def test_an_annotated_pod_opts_out_of_alerts(prometheus_for: PrometheusFactory) -> None:
    source = source_for(prometheus_for, d.OPTED_OUT)
    result = run_check(source=source, settings=source.settings, at=d.minutes(d.OPTED_OUT, 206))
    verdicts = {a.memory.ref.pod: (a.verdict, a.memory.ignored) for a in result.assessments}
    # Both are critical by their numbers; only the one that did not opt out alerts.
    assert verdicts == {
        d.LEAK.name: (Verdict.CRITICAL, False),
        "quiet-7d9f-x2": (Verdict.CRITICAL, True),
    }
    assert [a.assessment.memory.ref.pod for a in result.alerts] == [d.LEAK.name]


def test_workloads_follow_kube_state_metrics_owner_chain(
    prometheus_for: PrometheusFactory,
) -> None:
    """ReplicaSet → Deployment or Argo Rollout, Job → CronJob, from kube_replicaset_owner and
    kube_job_owner; a standalone ReplicaSet is its own workload however it is named. Without
    those series (an old or trimmed kube-state-metrics), names are all podmem has."""
    chained = {
        m.ref.pod: m.workload
        for m in source_for(prometheus_for, d.OWNERS)
        .snapshot(d.minutes(d.OWNERS, 20), CLUSTER_WIDE)
        .containers
    }
    assert chained == {
        "checkout-7d9f8b6c5d-x2k4p": "deployment/checkout",
        "payments-5c4b9d7f6e-q1w9z": "rollout/payments",
        "legacy-6b8c7d9f5a-m2n7v": "replicaset/legacy-6b8c7d9f5a",
        "nightly-29412345-p3r6d": "cronjob/nightly",
        "db-0": "statefulset/db",
    }
    guessed = {
        m.ref.pod: m.workload
        for m in source_for(prometheus_for, d.OWNERS_BY_NAME_ONLY)
        .snapshot(d.minutes(d.OWNERS, 20), CLUSTER_WIDE)
        .containers
    }
    # The name heuristics: right for a Deployment, wrong for a Rollout and a standalone set.
    assert guessed["checkout-7d9f8b6c5d-x2k4p"] == "deployment/checkout"
    assert guessed["payments-5c4b9d7f6e-q1w9z"] == "deployment/payments"
    assert guessed["legacy-6b8c7d9f5a-m2n7v"] == "deployment/legacy"
    assert guessed["nightly-29412345-p3r6d"] == "cronjob/nightly"


def test_a_pods_owner_annotation_is_who_to_call(prometheus_for: PrometheusFactory) -> None:
    """podmem.io/owner, a Slack user or group ID, as an annotation or a pod label; anything
    else (`<!channel>`) is no one."""
    snapshot = source_for(prometheus_for, d.OWNED).snapshot(d.minutes(d.OWNED, 20), CLUSTER_WIDE)
    owners = {m.ref.pod: m.owner_id for m in snapshot.containers}
    assert owners == {
        d.LEAK.name: "U0OWNER",
        d.STEADY.name: None,
        d.FILE_CACHE.name: "S0TEAM",  # from the pod label, its warning annotation kept too
        d.NO_LIMIT.name: "U0NOTE",  # label and annotation: the annotation wins
    }
    thresholds = {m.ref.pod: m.threshold_annotations for m in snapshot.containers}
    assert thresholds[d.FILE_CACHE.name] == (("podmem.io/warning", "0.9"),)
    assert thresholds[d.LEAK.name] == thresholds[d.NO_LIMIT.name] == ()
