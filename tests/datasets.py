"""The generated clusters the integration tests load into a real Prometheus.

Module-level constants, so each is generated and served once per test session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.scenarios import ClusterSpec, ContainerSpec, PodSpec, Steady, mixed_cluster, named_pod
from bot.scenarios.behaviours import (
    MIB,
    Behaviour,
    HotCache,
    Killed,
    Leak,
    Spiky,
    Thrash,
    WarmUp,
    WorkerOom,
)
from bot.scenarios.cluster import SCALE_MIX, NodePressure

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


def _in_three_namespaces(pods: tuple[PodSpec, ...]) -> tuple[PodSpec, ...]:
    """Crowded namespaces: each one's lists outgrow the rows a digest shows."""
    return tuple(replace(p, namespace=f"team-{i % 3}") for i, p in enumerate(pods))


# The digest at scale: 100 containers that are each worth a line (leaks, kills, no limit,
# over-provisioned requests, cache), then the same with 900 quiet ones (steady, sized right).
_WORTH_A_LINE = mixed_cluster(
    100,
    start=START,
    duration=timedelta(minutes=40),
    mix=tuple((kind, share) for kind, share in SCALE_MIX if kind != "steady"),
)
_QUIET = mixed_cluster(900, start=START, duration=timedelta(minutes=40), mix=(("steady", 1.0),))
DIGEST_FEW = replace(_WORTH_A_LINE, pods=_in_three_namespaces(_WORTH_A_LINE.pods))
DIGEST_MANY = replace(DIGEST_FEW, pods=DIGEST_FEW.pods + _in_three_namespaces(_QUIET.pods))


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


# --- judgement: shapes real clusters have that a working-set ratio alone misjudges ---------
# Evaluated at minute 60 (JUDGEMENT_AT). cgroup v2, so cAdvisor exports PSI.
def _pod(name: str, behaviour: Behaviour, limit: float | None, **extra: object) -> PodSpec:
    request = None if limit is None else limit / 2
    container = ContainerSpec("app", behaviour, limit, request)
    return PodSpec(
        namespace="shop",
        name=name,
        containers=(container,),
        workload_name=name.rsplit("-", 2)[0],
        **extra,
    )  # type: ignore[arg-type]


LIMIT = 256 * MIB
JUDGEMENT_PODS = (
    # A rollout's new pod: started at minute 52, 8 min old at minute 60, growing fast at ~35 %.
    _pod(
        "warmup-5d8f-a1b2c",
        WarmUp(limit=LIMIT, base_rss=40 * MIB, plateau=160 * MIB, seconds_to_settle=900),
        LIMIT,
        started_after=52 * 60,
    ),
    # 93 %: 30 % RSS and 63 % active page cache, flat.
    _pod("hotcache-6c7d-b2c3d", HotCache(rss=77 * MIB, active_cache=161 * MIB, limit=LIMIT), LIMIT),
    # Usage pinned at the limit, working set 75 %, stalled a quarter of the time.
    _pod(
        "thrash-7e8f-c3d4e",
        Thrash(rss=100 * MIB, active_cache=92 * MIB, stalled=0.25, limit=LIMIT),
        LIMIT,
    ),
    # 85 % but annotated podmem.io/warning: "0.95": not a warning for this pod.
    _pod(
        "tolerant-8a9b-d4e5f",
        HotCache(rss=210 * MIB, active_cache=8 * MIB, limit=LIMIT),
        LIMIT,
        annotations=(("podmem.io/warning", "0.95"),),
    ),
    # A bad annotation: ignored, with one note; the defaults apply (85 % is a warning).
    _pod(
        "typo-9b0c-e5f6a",
        HotCache(rss=210 * MIB, active_cache=8 * MIB, limit=LIMIT),
        LIMIT,
        annotations=(("podmem.io/warning", "abc"),),
    ),
    # Killed by node-2 running short at minute 50: at 40 % of its limit, and one with no limit.
    _pod(
        "victim-1c2d-f6a7b", Killed(rss=100 * MIB, every=50 * 60, limit=LIMIT), LIMIT, node="node-2"
    ),
    _pod("unlimited-2d3e-a7b8c", Killed(rss=300 * MIB, every=50 * 60), None, node="node-2"),
    # Evicted from node-2 at minute 51.
    _pod(
        "evictee-3e4f-b8c9d",
        Steady(rss=200 * MIB, limit=LIMIT),
        LIMIT,
        node="node-2",
        evicted_after=51 * 60,
    ),
    # A gunicorn whose workers are OOM-killed every 20 min; the container lives on.
    _pod("gunicorn-4f5a-c9d0e", WorkerOom(rss=180 * MIB, every=20 * 60, limit=LIMIT), LIMIT),
    # A crash loop at its own limit, killed every 5 min, every third end an error: the sticky
    # reason says Error after those, and the earlier OOM kills must not vanish.
    _pod(
        "mixed-5a6b-d0e1f",
        Killed(
            rss=120 * MIB, every=300, reasons=("OOMKilled", "OOMKilled", "Error"), limit=128 * MIB
        ),
        128 * MIB,
    ),
    # Short spikes to 400 MiB for 4 min, 20 min after every start: right-sizing must see them.
    _pod(
        "spiky-6b7c-e1f2a",
        Spiky(rss=100 * MIB, spike=400 * MIB, spike_at=20 * 60, limit=512 * MIB),
        512 * MIB,
    ),
    PodSpec(
        namespace="shop",
        name="mesh-7c8d-f2a3b",
        containers=(
            ContainerSpec("app", Steady(rss=100 * MIB, limit=LIMIT), LIMIT, 128 * MIB),
            # A native sidecar crash-looping on its own 128 MiB limit.
            ContainerSpec(
                "proxy",
                Leak(limit=128 * MIB, base_rss=16 * MIB, rate=40 * MIB / 60),
                128 * MIB,
                64 * MIB,
                sidecar=True,
            ),
        ),
        workload_name="mesh",
    ),
)
JUDGEMENT = ClusterSpec(
    pods=JUDGEMENT_PODS,
    start=START,
    duration=timedelta(minutes=80),
    scrape_interval_seconds=15,
    cgroup="v2",
    node_pressure=(NodePressure("node-2", start=48 * 60, end=53 * 60),),
)
JUDGEMENT_AT = minutes(JUDGEMENT, 60)


def _owned(kind: str, workload: str, pod: str) -> PodSpec:
    return replace(named_pod("steady", "apps", pod), workload_kind=kind, workload_name=workload)


# Every way a pod reaches its workload, named so that guessing from names goes wrong: a
# standalone ReplicaSet named like a Deployment's, an Argo Rollout, a CronJob's Job.
OWNER_PODS = (
    _owned("Deployment", "checkout", "checkout-7d9f8b6c5d-x2k4p"),
    _owned("Rollout", "payments", "payments-5c4b9d7f6e-q1w9z"),
    _owned("ReplicaSet", "legacy-6b8c7d9f5a", "legacy-6b8c7d9f5a-m2n7v"),
    _owned("CronJob", "nightly", "nightly-29412345-p3r6d"),
    _owned("StatefulSet", "db", "db-0"),
)
OWNERS = ClusterSpec(pods=OWNER_PODS, start=START, duration=timedelta(minutes=30))
OWNERS_BY_NAME_ONLY = replace(OWNERS, controller_owners=False)

# Owners to call on a critical alert (podmem.io/owner), one not a Slack ID at all.
OWNED = ClusterSpec(
    pods=(
        replace(LEAK, annotations=(("podmem.io/owner", "U0OWNER"),)),
        replace(STEADY, annotations=(("podmem.io/owner", "<!channel>"),)),
        # The owner as a pod label (a Slack ID fits a label value), beside another annotation.
        replace(
            FILE_CACHE,
            labels=(("podmem.io/owner", "S0TEAM"),),
            annotations=(("podmem.io/warning", "0.9"),),
        ),
        # Both: the annotation wins.
        replace(
            NO_LIMIT,
            labels=(("podmem.io/owner", "U0LABEL"),),
            annotations=(("podmem.io/owner", "U0NOTE"),),
        ),
    ),
    start=START,
    duration=timedelta(minutes=30),
)
