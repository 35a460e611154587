"""Clusters to simulate: pods of named workloads, with kubelet- and KSM-realistic identity."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.scenarios.behaviours import MIB, Behaviour, FileCacheLeak, Leak, Steady

GIB = 1024 * MIB


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    behaviour: Behaviour
    limit: float | None
    request: float | None
    image: str = "registry.example.com/app:1.0"
    # A native sidecar (an init container with restartPolicy: Always, Kubernetes >= 1.29):
    # kube-state-metrics reports it as kube_pod_init_container_*.
    sidecar: bool = False


@dataclass(frozen=True)
class PodSpec:
    namespace: str
    name: str
    containers: tuple[ContainerSpec, ...]
    cluster: str = ""
    node: str = "node-1"
    workload_kind: str = "Deployment"
    workload_name: str = ""
    # Seconds after the cluster's start when the pod's containers first started.
    started_after: float = 0.0
    # Annotated podmem.io/ignore: "true" (exported by KSM v2 when allow-listed).
    ignored: bool = False
    # Other podmem.io annotations, e.g. (("podmem.io/warning", "0.95"),).
    annotations: tuple[tuple[str, str], ...] = ()
    # Pod labels kube-state-metrics exports (allow-listed), e.g. (("podmem.io/owner", "U1"),).
    labels: tuple[tuple[str, str], ...] = ()
    # Seconds after the cluster's start when the kubelet evicted the pod (phase Failed,
    # reason Evicted; its containers gone).
    evicted_after: float | None = None

    @property
    def uid(self) -> str:
        digest = hashlib.sha1(f"{self.cluster}/{self.namespace}/{self.name}".encode()).hexdigest()  # noqa: S324
        return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"

    @property
    def owner(self) -> tuple[str, str]:
        """The pod's direct owner as kube_pod_owner shows it: Deployments and Argo Rollouts
        own their pods through a ReplicaSet, CronJobs through a Job."""
        if self.workload_kind in ("Deployment", "Rollout"):
            return "ReplicaSet", self.replicaset
        if self.workload_kind == "CronJob":
            return "Job", self.job
        return self.workload_kind, self.workload_name

    @property
    def job(self) -> str:
        """A CronJob's Job: <cronjob>-<minutes since the epoch of its schedule>."""
        return f"{self.workload_name}-29412345"

    @property
    def replicaset(self) -> str:
        digest = hashlib.sha1(self.workload_name.encode()).hexdigest()  # noqa: S324
        return f"{self.workload_name}-{int(digest[:8], 16) % 10**10:x}"[:63]


@dataclass(frozen=True)
class NodePressure:
    """A node short of memory from `start` to `end` (seconds after the cluster's start):
    kube-state-metrics' MemoryPressure condition and node-exporter's MemAvailable say so."""

    node: str
    start: float
    end: float
    total_bytes: float = 16 * GIB
    available_bytes: float = 4 * GIB  # outside the window
    available_low_bytes: float = 120 * MIB  # inside it


@dataclass(frozen=True)
class ClusterSpec:
    pods: tuple[PodSpec, ...]
    start: datetime
    duration: timedelta = timedelta(hours=4)
    scrape_interval_seconds: float = 30.0
    ksm: str = "v2"  # "v2", "v1" or "none"
    cgroup: str = "v1"  # "v1" has failcnt and swap; "v2" has neither
    duplicate_cadvisor_series: bool = True
    extra_labels: dict[str, str] = field(default_factory=dict)
    node_pressure: tuple[NodePressure, ...] = ()
    # kube_replicaset_owner / kube_job_owner exported (kube-state-metrics' default); off, a
    # pod's workload is only known from its owner's name.
    controller_owners: bool = True

    @property
    def scrape_times(self) -> list[float]:
        """Every scrape of the cluster's whole span, as Unix seconds."""
        start, step = self.start.timestamp(), self.scrape_interval_seconds
        return [start + i * step for i in range(int(self.duration.total_seconds() // step) + 1)]

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)


WORKLOAD_KINDS = (
    "leak",
    "leak-file-cache",
    "steady",
    "no-limit",
    "over-provisioned",
    "crashloop-oom",
)


def _workload_name(pod: str) -> str:
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else pod


def named_pod(
    kind: str,
    namespace: str,
    name: str,
    *,
    cluster: str = "",
    started_after: float = 0.0,
    node: str = "node-1",
    phase: float = 0.0,
) -> PodSpec:
    """One pod of a named workload kind; the numbers are the ones the docs and tests quote."""
    behaviours: dict[str, tuple[Behaviour, float | None, float | None]] = {
        # Experiment 1: 256 MiB limit, +1 MiB/min from 32 MiB: the kill comes after ~3.7 h.
        "leak": (Leak(limit=256 * MIB, phase=phase), 256 * MIB, 128 * MIB),
        # Experiment 2: the same leak plus a file writer; usage is pinned from ~55 min on.
        "leak-file-cache": (FileCacheLeak(limit=256 * MIB, phase=phase), 256 * MIB, 128 * MIB),
        "steady": (Steady(rss=100 * MIB, limit=512 * MIB, phase=phase), 512 * MIB, 256 * MIB),
        "no-limit": (Steady(rss=300 * MIB, phase=phase), None, 200 * MIB),
        "over-provisioned": (
            Steady(rss=180 * MIB, cache=20 * MIB, limit=4 * GIB, phase=phase),
            4 * GIB,
            2 * GIB,
        ),
        # Dies every few minutes: 128 MiB limit, +40 MiB/min.
        "crashloop-oom": (
            Leak(limit=128 * MIB, base_rss=16 * MIB, rate=40 * MIB / 60, phase=phase),
            128 * MIB,
            64 * MIB,
        ),
    }
    if kind not in behaviours:
        raise ValueError(f"unknown workload kind {kind!r}; known: {', '.join(WORKLOAD_KINDS)}")
    behaviour, limit, request = behaviours[kind]
    container = ContainerSpec(name="app", behaviour=behaviour, limit=limit, request=request)
    return PodSpec(
        namespace=namespace,
        name=name,
        containers=(container,),
        cluster=cluster,
        node=node,
        workload_name=_workload_name(name),
        started_after=started_after,
    )


# A realistic mix for scale: most containers are fine, some are at risk, a few die or have no
# limit. Shares follow what fleet surveys report: roughly 1 in 10 containers without a limit.
SCALE_MIX = (
    ("steady", 0.70),
    ("over-provisioned", 0.10),
    ("no-limit", 0.10),
    ("leak", 0.05),
    ("leak-file-cache", 0.03),
    ("crashloop-oom", 0.02),
)


# A healthier fleet, as a large production cluster is on a normal day: about 2 % of containers
# at risk, 0.5 % crash-looping on OOM, 10 % without a limit. Benchmarks use it.
PRODUCTION_MIX = (
    ("steady", 0.77),
    ("over-provisioned", 0.10),
    ("no-limit", 0.10),
    ("leak", 0.015),
    ("leak-file-cache", 0.01),
    ("crashloop-oom", 0.005),
)


def mixed_cluster(
    containers: int,
    *,
    start: datetime,
    duration: timedelta = timedelta(hours=3),
    scrape_interval_seconds: float = 60.0,
    seed: int = 7,
    cluster: str = "",
    ksm: str = "v2",
    mix: tuple[tuple[str, float], ...] = (),
) -> ClusterSpec:
    """`containers` single-container pods over 50 namespaces and 100 nodes, of mixed kinds."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible data, not secrets
    kinds = [kind for kind, _ in mix or SCALE_MIX]
    weights = [share for _, share in mix or SCALE_MIX]
    pods = []
    for index in range(containers):
        kind = rng.choices(kinds, weights)[0]
        pods.append(
            named_pod(
                kind,
                f"team-{index % 50:02d}",
                f"{kind}-{index // 50:05d}-{index:06d}"[:63].replace("--", "-"),
                cluster=cluster,
                started_after=-rng.uniform(0, 3 * 3600),
                node=f"node-{index % 100:03d}",
                phase=rng.uniform(0, 6.28),
            )
        )
    return ClusterSpec(
        pods=tuple(pods),
        start=start,
        duration=duration,
        scrape_interval_seconds=scrape_interval_seconds,
        ksm=ksm,
    )
