"""kube-state-metrics' owner series of the controllers between a pod and its workload:
`kube_replicaset_owner` (a Deployment's or an Argo Rollout's ReplicaSet; `<none>` for a
standalone one) and `kube_job_owner` (a CronJob's Job), one series per object."""

from __future__ import annotations

from collections.abc import Iterator

from bot.scenarios.cluster import ClusterSpec


def owner_lines(cluster: ClusterSpec) -> Iterator[str]:
    if not cluster.controller_owners:
        return
    times = cluster.scrape_times
    common = "".join(f'{k}="{v}",' for k, v in cluster.extra_labels.items())
    series: dict[str, None] = {}  # once per object, however many pods it owns
    for pod in cluster.pods:
        where = f'{common}job="kube-state-metrics",namespace="{pod.namespace}",'
        if pod.cluster:
            where += f'cluster="{pod.cluster}",'
        kind, name = pod.owner
        if kind == "ReplicaSet":
            standalone = pod.workload_kind == "ReplicaSet"
            owner = ("<none>", "<none>") if standalone else (pod.workload_kind, pod.workload_name)
            owned_by = f'owner_kind="{owner[0]}",owner_name="{owner[1]}"'
            series[f'kube_replicaset_owner{{{where}replicaset="{name}",{owned_by}}}'] = None
        elif kind == "Job" and pod.workload_kind == "CronJob":
            owned_by = f'owner_kind="CronJob",owner_name="{pod.workload_name}"'
            series[f'kube_job_owner{{{where}job_name="{name}",{owned_by}}}'] = None
    for name in series:
        for t in times:
            yield f"{name} 1 {t:.0f}\n"
