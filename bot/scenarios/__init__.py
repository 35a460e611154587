"""The one scenario generator: simulated workloads for tests, benchmarks and `podmem demo`."""

from bot.scenarios.behaviours import (
    Behaviour,
    ContainerState,
    FileCacheLeak,
    Kill,
    Leak,
    Sample,
    Steady,
)
from bot.scenarios.cluster import (
    WORKLOAD_KINDS,
    ClusterSpec,
    ContainerSpec,
    PodSpec,
    mixed_cluster,
    named_pod,
)
from bot.scenarios.openmetrics import write_openmetrics

__all__ = [
    "WORKLOAD_KINDS",
    "Behaviour",
    "ClusterSpec",
    "ContainerSpec",
    "ContainerState",
    "FileCacheLeak",
    "Kill",
    "Leak",
    "PodSpec",
    "Sample",
    "Steady",
    "mixed_cluster",
    "named_pod",
    "write_openmetrics",
]
