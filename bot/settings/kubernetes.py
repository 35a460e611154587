"""The Kubernetes API: optional facts about pods, and the home of HA state and the Lease."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class KubernetesFields(BaseModel):
    kubernetes: Literal["auto", "off"] = Field(
        "auto",
        description="`auto`: use the Kubernetes API when reachable (in-cluster, then "
        "kubeconfig); `off`: Prometheus-only mode.",
    )

    kubernetes_cluster: str = Field(
        "",
        description="Value of `cluster_label` for the cluster whose Kubernetes API podmem "
        "reaches; the API's facts are only joined to those rows. Empty: single-cluster.",
    )
    kubernetes_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of each Kubernetes API call, seconds."
    )
    pod_namespace: str = Field(
        "podmem",
        description="Namespace podmem runs in: where its Lease and (for replicas > 1) its "
        "state ConfigMap live. In a pod, set from the downward API.",
    )
    pod_name: str = Field(
        "",
        description="This replica's identity in leader election; empty: host name + pid.",
    )
    leader_election: bool = Field(
        False,
        description="Elect one leader on a coordination.k8s.io Lease; only the leader runs "
        "scheduled jobs. Needed when replicas > 1.",
    )
    lease_name: str = Field("podmem-leader", description="Name of the leader-election Lease.")
    lease_duration_seconds: int = Field(
        15,
        ge=2,
        description="Seconds a leader's lease lasts without renewal: the longest failover "
        "gap. 15 s, as client-go's default.",
    )
    lease_renew_deadline_seconds: int = Field(
        10, ge=2, description="Seconds a leader keeps trying to renew before it steps down."
    )
    lease_retry_period_seconds: int = Field(
        2, ge=1, description="Seconds between leader-election attempts."
    )

    @model_validator(mode="after")
    def _lease_timings_fit(self) -> KubernetesFields:
        # The kubernetes client's election Config calls sys.exit on these; say it here.
        if self.lease_duration_seconds <= self.lease_renew_deadline_seconds:
            raise ValueError("lease_duration_seconds must exceed lease_renew_deadline_seconds")
        if self.lease_renew_deadline_seconds <= 1.2 * self.lease_retry_period_seconds:
            raise ValueError(
                "lease_renew_deadline_seconds must exceed 1.2 x lease_retry_period_seconds"
            )
        return self
