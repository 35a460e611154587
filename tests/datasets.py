"""The generated clusters the integration tests load into a real Prometheus.

Module-level constants, so each is generated and served once per test session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.scenarios import ClusterSpec, ContainerSpec, PodSpec, Steady, mixed_cluster, named_pod
from bot.scenarios.behaviours import MIB

START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)

LEAK = named_pod("leak", "default", "leak-7d9f-x2")
FILE_CACHE = named_pod("leak-file-cache", "default", "cache-5c4b-q1")
NO_LIMIT = named_pod("no-limit", "batch", "reporter-84d2-t5k8s")
STEADY = named_pod("steady", "default", "web-6b8c-m2n7v")
TWO_CONTAINERS = PodSpec(
    namespace="default",
    name="api-7d9f-pair",
    containers=(
        ContainerSpec("app", Steady(rss=200 * MIB, limit=512 * MIB), 512 * MIB, 256 * MIB),
        ContainerSpec("sidecar", Steady(rss=20 * MIB, limit=64 * MIB), 64 * MIB, 32 * MIB),
    ),
    workload_name="api",
)
TWINS = (named_pod("steady", "team-a", "twin-0001"), named_pod("steady", "team-b", "twin-0001"))

MAIN_PODS = (LEAK, FILE_CACHE, NO_LIMIT, STEADY, TWO_CONTAINERS, *TWINS)

MAIN = ClusterSpec(pods=MAIN_PODS, start=START, duration=timedelta(hours=4))
# The same workloads seen through kube-state-metrics v1 names, through no KSM at all, and on
# cgroup v2 nodes (no swap, no failcnt series).
KSM_V1 = replace(MAIN, ksm="v1")
NO_KSM = replace(MAIN, ksm="none", cgroup="v2")

# Two clusters in one Prometheus, same namespace/pod names, different memory.
MULTI = ClusterSpec(
    pods=(
        replace(named_pod("steady", "shop", "cart-5c4b-q1"), cluster="east"),
        replace(named_pod("leak", "shop", "cart-5c4b-q1"), cluster="west"),
    ),
    start=START,
    duration=timedelta(hours=4),
)

SMALL_FLEET = mixed_cluster(10, start=START, duration=timedelta(minutes=40))
LARGE_FLEET = mixed_cluster(1000, start=START, duration=timedelta(minutes=40))


def minutes(cluster: ClusterSpec, value: float) -> datetime:
    return cluster.at(value * 60)


def _leak_replica(index: int) -> PodSpec:
    # Ten replicas of one Deployment, started 5 s apart: all killed within a minute (~224 min).
    return replace(named_pod("leak", "shop", f"api-7d9f-{index:02d}"), started_after=5.0 * index)


OOM = ClusterSpec(
    pods=(
        replace(named_pod("crashloop-oom", "batch", "resizer-3a7b-z8x2c"), cluster="east"),
        replace(
            named_pod("crashloop-oom", "batch", "resizer-3a7b-z8x2c", started_after=60),
            cluster="west",
        ),
        replace(LEAK, cluster="east"),
        *(replace(_leak_replica(i), cluster="east") for i in range(10)),
    ),
    start=START,
    duration=timedelta(hours=5),
    scrape_interval_seconds=15,
)

# One leaking pod, for the alert-lifecycle timeline: healthy, warning (~180 min), critical
# (~200 min), OOM-killed (~222 min), restarted and healthy.
TIMELINE = ClusterSpec(pods=(LEAK,), start=START, duration=timedelta(hours=5))

# Two identical leaks; one pod opted out with podmem.io/ignore: "true".
OPTED_OUT = ClusterSpec(
    pods=(LEAK, replace(named_pod("leak", "default", "quiet-7d9f-x2"), ignored=True)),
    start=START,
    duration=timedelta(hours=4),
)
