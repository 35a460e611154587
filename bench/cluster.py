"""A benchmark cluster: generated, backfilled into a real Prometheus, mirrored in the API."""

from __future__ import annotations

import hashlib
import inspect
import shutil
import time
from collections.abc import Callable
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


# What every generated cluster depends on: the generator.
_GENERATOR = tuple(sorted(Path(__file__).parents[1].glob("bot/scenarios/*.py")))


@dataclass(frozen=True)
class DataDir:
    """Where a benchmark cluster's TSDB lives. In the run's temporary directory it is
    deleted after use; under `--data` it is kept, with a fingerprint of what generated it
    (sizes, history, the generator's source), and served again by the next run that would
    generate the same data: 100 000 containers take promtool half an hour to backfill."""

    path: Path
    kept: bool

    @classmethod
    def of(
        cls,
        name: str,
        *,
        work: Path,
        keep_in: Path | None,
        shapers: tuple[Callable[..., object] | type, ...] = (),
        **shape: object,
    ) -> DataDir:
        """`shape`: the sizes; `shapers`: the benchmark's own code that shapes the data
        (its source is part of the fingerprint: an edit elsewhere in bench/ keeps the data)."""
        if keep_in is None:
            return cls(work / name, kept=False)
        digest = hashlib.sha256(repr(sorted(shape.items())).encode())
        for source in _GENERATOR:
            digest.update(source.read_bytes())
        for shaper in (make_spec, *shapers):
            digest.update(inspect.getsource(shaper).encode())
        path = keep_in / name
        stamp = path / "fingerprint"
        if not stamp.exists() or stamp.read_text() != digest.hexdigest():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            # Written first, honoured only once a server has come up on the blocks (`done`).
            (path / "fingerprint.pending").write_text(digest.hexdigest())
        return cls(path, kept=True)

    @property
    def reusable(self) -> bool:
        return self.kept and (self.path / "fingerprint").exists()

    def done(self) -> None:
        """The blocks are complete: a later run may serve them."""
        pending = self.path / "fingerprint.pending"
        if self.kept and pending.exists():
            pending.rename(self.path / "fingerprint")

    def release(self) -> None:
        if not self.kept:
            shutil.rmtree(self.path, ignore_errors=True)


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
