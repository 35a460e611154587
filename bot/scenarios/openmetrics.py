"""Writes a simulated cluster as OpenMetrics text, the input of `promtool tsdb create-blocks-
from openmetrics`: what the kubelet's cAdvisor and kube-state-metrics would have exposed,
scrape by scrape, with the mess real clusters have (pod-level cgroup series, the pause
container, the same container scraped by two jobs, both KSM generations).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TextIO

from bot.scenarios.behaviours import MIB, ContainerState
from bot.scenarios.cluster import ClusterSpec, ContainerSpec, PodSpec
from bot.scenarios.nodes import node_lines
from bot.scenarios.owners import owner_lines

# What cgroup v1 reports as the limit of an unlimited container (PAGE_COUNTER_MAX pages).
CGROUP_V1_UNLIMITED = 9223372036854771712
PAUSE_BYTES = 1 * MIB


def _labels(pairs: dict[str, str]) -> str:
    body = ",".join(
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in pairs.items()
    )
    return "{" + body + "}"


class _PodWriter:
    """Emits one pod's series. Series-major: every sample of a series, then the next."""

    def __init__(self, cluster: ClusterSpec, pod: PodSpec) -> None:
        self.cluster, self.pod = cluster, pod
        self.common = dict(cluster.extra_labels)
        if pod.cluster:
            self.common["cluster"] = pod.cluster
        start = cluster.start.timestamp()
        step = cluster.scrape_interval_seconds
        count = int(cluster.duration.total_seconds() // step) + 1
        first = max(0, int(-(-pod.started_after // step)))
        self.times = [start + i * step for i in range(first, count)]
        since_start = [t - start - pod.started_after for t in self.times]
        evicted = pod.evicted_after
        self.evicted = [evicted is not None and t - start >= evicted for t in self.times]
        self.states = {
            c.name: [
                ContainerState(None, st.restarts, st.kills, st.started) if gone else st
                for st, gone in zip(
                    (c.behaviour.state(s) for s in since_start), self.evicted, strict=True
                )
            ]
            for c in pod.containers
        }
        self.origin = start + pod.started_after

    def cadvisor_labels(self, container: str, job: str, image: str) -> dict[str, str]:
        pod_cgroup = f"/kubepods/burstable/pod{self.pod.uid}"
        container_id = f"{self.pod.uid.replace('-', '')}{container}"[:64] if container else ""
        return {
            **self.common,
            "container": container,
            "id": f"{pod_cgroup}/{container_id}" if container else pod_cgroup,
            "image": image,
            "instance": self.pod.node,
            "job": job,
            "metrics_path": "/metrics/cadvisor",
            "name": container_id,
            "namespace": self.pod.namespace,
            "node": self.pod.node,
            "pod": self.pod.name,
        }

    def ksm_labels(self, **extra: str) -> dict[str, str]:
        return {
            **self.common,
            "instance": "kube-state-metrics:8080",
            "job": "kube-state-metrics",
            "namespace": self.pod.namespace,
            "pod": self.pod.name,
            "uid": self.pod.uid,
            **extra,
        }

    def series(
        self, name: str, labels: dict[str, str], values: Sequence[float | None]
    ) -> Iterator[str]:
        label_text = _labels(labels)
        for t, value in zip(self.times, values, strict=True):
            if value is not None:
                yield f"{name}{label_text} {value:.0f} {t:.0f}\n"

    def lines(self) -> Iterator[str]:
        jobs = ["kubelet", "cadvisor"] if self.cluster.duplicate_cadvisor_series else ["kubelet"]
        for container in self.pod.containers:
            yield from self._container(container, jobs)
        yield from self._pod_level(jobs)
        yield from self._pod_ksm()

    def _container(self, container: ContainerSpec, jobs: list[str]) -> Iterator[str]:
        states = self.states[container.name]
        samples = [state.sample for state in states]
        figures = {
            "container_memory_working_set_bytes": [
                None if s is None else s.working_set for s in samples
            ],
            "container_memory_usage_bytes": [None if s is None else s.usage for s in samples],
            "container_memory_rss": [None if s is None else s.rss for s in samples],
            "container_memory_cache": [None if s is None else s.cache for s in samples],
        }
        if self.cluster.cgroup == "v1":
            figures["container_memory_swap"] = [None if s is None else s.swap for s in samples]
            figures["container_memory_failcnt"] = [
                None if s is None else float(len(st.kills))
                for s, st in zip(samples, states, strict=True)
            ]
        unlimited = CGROUP_V1_UNLIMITED if self.cluster.cgroup == "v1" else 0
        limit = container.limit if container.limit is not None else unlimited
        figures["container_spec_memory_limit_bytes"] = [
            None if s is None else limit for s in samples
        ]
        figures["container_oom_events_total"] = [
            None if s is None else float(st.oom_events)
            for s, st in zip(samples, states, strict=True)
        ]
        figures["container_start_time_seconds"] = [
            None if s is None else self.origin + st.started
            for s, st in zip(samples, states, strict=True)
        ]
        if self.cluster.cgroup == "v2":  # PSI is a cgroup v2 file
            figures["container_pressure_memory_stalled_seconds_total"] = self._stalled(states)
        for job in jobs:
            labels = self.cadvisor_labels(container.name, job, container.image)
            for name, values in figures.items():
                yield from self.series(name, labels, values)
        yield from self._container_ksm(container, states)

    def _stalled(self, states: list[ContainerState]) -> list[float | None]:
        """PSI's counter: seconds fully stalled since the container started (a new container,
        a new counter)."""
        step = self.cluster.scrape_interval_seconds
        total, run = 0.0, -1.0
        out: list[float | None] = []
        for state in states:
            if state.sample is None:
                out.append(None)
                continue
            if state.started != run:
                total, run = 0.0, state.started
            total += state.sample.stalled * step
            out.append(total)
        return out

    def _container_ksm(
        self, container: ContainerSpec, states: list[ContainerState]
    ) -> Iterator[str]:
        ksm = self.cluster.ksm
        every = [1.0] * len(self.times)
        base = self.ksm_labels(container=container.name)
        if ksm == "none":
            return
        # Native sidecars are init containers to kube-state-metrics.
        family = "kube_pod_init_container" if container.sidecar else "kube_pod_container"
        resources = {"limits": container.limit, "requests": container.request}
        for kind, amount in resources.items():
            if amount is None:
                continue
            if ksm == "v2":
                name = f"{family}_resource_{kind}"
                memory = {**base, "node": self.pod.node, "resource": "memory", "unit": "byte"}
                cpu = {**base, "node": self.pod.node, "resource": "cpu", "unit": "core"}
                yield from self.series(name, memory, [amount] * len(self.times))
                yield from self.series(name, cpu, [0.5] * len(self.times))
            else:
                yield from self.series(
                    f"kube_pod_container_resource_{kind}_memory_bytes",
                    base,
                    [amount] * len(self.times),
                )
                yield from self.series(
                    f"kube_pod_container_resource_{kind}_cpu_cores", base, [0.5] * len(self.times)
                )
        yield from self.series(
            f"{family}_status_restarts_total", base, [float(s.restarts) for s in states]
        )
        info = {**base, "image": container.image, "container_id": f"containerd://{self.pod.uid}"}
        if container.sidecar:
            info["restart_policy"] = "Always"
        yield from self.series(f"{family}_info", info, every)
        # A sticky gauge per reason: the last termination's reason reads 1, however old; the
        # series of an earlier reason is gone once a termination of another reason replaced it.
        for reason in sorted({k.reason for st in states for k in st.kills}):
            yield from self.series(
                f"{family}_status_last_terminated_reason",
                {**base, "reason": reason},
                [1.0 if s.kills and s.kills[-1].reason == reason else None for s in states],
            )
        if self.cluster.ksm == "v2":
            origin = self.cluster.start.timestamp() + self.pod.started_after
            yield from self.series(
                f"{family}_status_last_terminated_timestamp",
                base,
                [origin + s.kills[-1].finished_at if s.kills else None for s in states],
            )
        yield from self.series(
            f"{family}_status_running", base, [1.0 if s.sample else 0.0 for s in states]
        )

    def _pod_level(self, jobs: list[str]) -> Iterator[str]:
        """The pod cgroup (container="") and the pause container: both must never count."""
        per_time = list(zip(*self.states.values(), strict=True))
        working = [
            sum(s.sample.working_set for s in row if s.sample) + PAUSE_BYTES for row in per_time
        ]
        usage = [sum(s.sample.usage for s in row if s.sample) + PAUSE_BYTES for row in per_time]
        for job in jobs:
            pod_labels = self.cadvisor_labels("", job, "")
            pause_labels = self.cadvisor_labels("POD", job, "registry.k8s.io/pause:3.9")
            yield from self.series("container_memory_working_set_bytes", pod_labels, list(working))
            yield from self.series("container_memory_usage_bytes", pod_labels, list(usage))
            yield from self.series(
                "container_memory_working_set_bytes", pause_labels, [PAUSE_BYTES] * len(self.times)
            )

    def _pod_ksm(self) -> Iterator[str]:
        if self.cluster.ksm == "none":
            return
        owner_kind, owner_name = self.pod.owner
        every = [1.0] * len(self.times)
        yield from self.series(
            "kube_pod_info",
            self.ksm_labels(
                node=self.pod.node, created_by_kind=owner_kind, created_by_name=owner_name
            ),
            every,
        )
        annotations = dict(self.pod.annotations)
        if self.pod.ignored:
            annotations["podmem.io/ignore"] = "true"
        if annotations and self.cluster.ksm == "v2":
            yield from self.series(
                "kube_pod_annotations",
                self.ksm_labels(
                    **{
                        "annotation_" + k.replace(".", "_").replace("/", "_"): v
                        for k, v in sorted(annotations.items())
                    }
                ),
                every,
            )
        if self.pod.labels and self.cluster.ksm == "v2":
            yield from self.series(
                "kube_pod_labels",
                self.ksm_labels(
                    **{"label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v for k, v in self.pod.labels}
                ),
                every,
            )
        gone = [1.0 if e else 0.0 for e in self.evicted]
        yield from self.series("kube_pod_status_reason", self.ksm_labels(reason="Evicted"), gone)
        for phase, values in (("Running", [1 - g for g in gone]), ("Failed", gone)):
            yield from self.series("kube_pod_status_phase", self.ksm_labels(phase=phase), values)
        yield from self.series(
            "kube_pod_owner",
            self.ksm_labels(
                owner_kind=owner_kind, owner_name=owner_name, owner_is_controller="true"
            ),
            every,
        )


def write_openmetrics(cluster: ClusterSpec, out: TextIO) -> None:
    for pod in cluster.pods:
        out.writelines(_PodWriter(cluster, pod).lines())
    out.writelines(node_lines(cluster))
    if cluster.ksm != "none":
        out.writelines(owner_lines(cluster))
    out.write("# EOF\n")
