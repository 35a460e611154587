"""A benchmark cluster: generated, backfilled into a real Prometheus, mirrored in the API."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.scenarios import ClusterSpec, PodSpec, mixed_cluster
from bot.scenarios.cluster import PRODUCTION_MIX
from tests.k8s_standin import (
    KubeStandIn,
    container_status,
    make_pod,
    running_state,
    terminated_state,
)
from tests.prometheus_harness import PrometheusServer

START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class BenchCluster:
    spec: ClusterSpec
    prometheus: PrometheusServer
    generate_s: float
    backfill_s: float

    def at(self, minutes: float) -> datetime:
        return self.spec.at(minutes * 60)


def make_spec(containers: int, *, history_minutes: int, scrape_seconds: float) -> ClusterSpec:
    spec = mixed_cluster(
        containers,
        start=START,
        duration=timedelta(minutes=history_minutes),
        scrape_interval_seconds=scrape_seconds,
        mix=PRODUCTION_MIX,
    )
    # One scrape job per series: at 20 000 containers duplicates would double an already
    # multi-GB backfill without changing what is measured (max by collapses them anyway).
    return replace(spec, duplicate_cadvisor_series=False, cgroup="v2")


def start_cluster(spec: ClusterSpec, workdir: Path) -> BenchCluster:
    started = time.monotonic()
    server = PrometheusServer(spec, workdir)  # generates, backfills, serves
    total = time.monotonic() - started
    return BenchCluster(spec, server, generate_s=0.0, backfill_s=total)


def mirror_pods(kube: KubeStandIn, spec: ClusterSpec, at: datetime) -> int:
    """Serve the cluster's pods from the API stand-in as they stand at `at`."""
    count = 0
    for pod in spec.pods:
        kube.add(_pod_json(spec, pod, at))
        count += 1
    return count


def _pod_json(spec: ClusterSpec, pod: PodSpec, at: datetime) -> dict[str, object]:
    origin = spec.start + timedelta(seconds=pod.started_after)
    statuses = []
    for container in pod.containers:
        state = container.behaviour.state((at - origin).total_seconds())
        last = state.last_kill
        statuses.append(
            container_status(
                container.name,
                state=running_state(origin),
                last_state=terminated_state(
                    started_at=origin + timedelta(seconds=last.started_at),
                    finished_at=origin + timedelta(seconds=last.finished_at),
                )
                if last
                else None,
                restart_count=state.restarts,
            )
        )
    return make_pod(
        pod.namespace, pod.name, node=pod.node, container_statuses=statuses, created=origin
    )
