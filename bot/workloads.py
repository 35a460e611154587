"""Naming the workload a pod belongs to: `deployment/checkout`, `statefulset/db`, ..."""

from __future__ import annotations

import re

_SHORT = {
    "Deployment": "deployment",
    "ReplicaSet": "replicaset",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job",
    "CronJob": "cronjob",
    "Rollout": "rollout",  # Argo Rollouts
    "Node": "node",
}
# A ReplicaSet made by a Deployment is named <deployment>-<pod-template-hash>; a Job made by
# a CronJob is <cronjob>-<minutes since epoch>.
_TEMPLATE_HASH = re.compile(r"^(?P<base>.+)-[a-z0-9]{5,10}$")
_SCHEDULED = re.compile(r"^(?P<base>.+)-\d{8,}$")


def workload_label(kind: str, name: str) -> str:
    return f"{_SHORT.get(kind, kind.lower())}/{name}"


def guess_workload(owner_kind: str, owner_name: str) -> str:
    """The workload from a pod's direct owner alone (Prometheus-only mode, no API).

    Follows the controllers' naming conventions; the Kubernetes source resolves it exactly.
    """
    if owner_kind == "ReplicaSet" and (match := _TEMPLATE_HASH.match(owner_name)):
        return workload_label("Deployment", match["base"])
    if owner_kind == "Job" and (match := _SCHEDULED.match(owner_name)):
        return workload_label("CronJob", match["base"])
    return workload_label(owner_kind, owner_name)


# Kinds whose pod template `kubectl set resources` can change (a Job's is immutable).
SETTABLE = ("deployment", "statefulset", "daemonset", "replicaset", "cronjob")


def set_resources_command(
    namespace: str,
    workload: str | None,
    container: str,
    *,
    limit: str | None = None,
    request: str | None = None,
) -> str | None:
    """The command that applies a suggestion (`limit`/`request` as quantities), ready to
    paste; None when no controller owns the pod, or its template cannot be changed."""
    if workload is None or workload.split("/", 1)[0] not in SETTABLE:
        return None
    if limit is None and request is None:
        return None
    change = " ".join(
        f"--{flag}=memory={value}"
        for flag, value in (("limits", limit), ("requests", request))
        if value is not None
    )
    return f"kubectl -n {namespace} set resources {workload} -c {container} {change}"
