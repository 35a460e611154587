"""Where the numbers come from: the PromQL API and how to reach it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class PrometheusFields(BaseModel):
    prometheus_url: str = Field(
        "http://localhost:9090",
        description="Base URL of any PromQL API (Prometheus, Thanos, Mimir, VictoriaMetrics) "
        "that scrapes kubelet cAdvisor and kube-state-metrics. Include a path prefix if any, "
        "e.g. http://mimir/prometheus.",
    )
    prometheus_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Timeout of each PromQL request, seconds. prometheus-api-client has none "
        "by default, so a hung backend would hang the check; 10 s leaves room for a slow "
        "long-term store while a dead one fails the check quickly.",
    )
    prometheus_bearer_token: SecretStr | None = Field(
        None, description="Bearer token sent as `Authorization: Bearer ...`. Never logged."
    )
    prometheus_username: str | None = Field(None, description="Basic-auth user name.")
    prometheus_password: SecretStr | None = Field(
        None, description="Basic-auth password. Never logged."
    )
    prometheus_headers: dict[str, str] = Field(
        default_factory=dict,
        description='Extra HTTP headers, e.g. {"X-Scope-OrgID": "tenant-1"} for Mimir/Cortex. '
        "As env: a JSON object.",
    )
    prometheus_tls_verify: bool = Field(
        True, description="Verify the TLS certificate of the Prometheus URL. Off only for labs."
    )
    cluster_label: str = Field(
        "cluster",
        description="Label that names the cluster in a multi-cluster Prometheus. Rows with "
        "different values stay apart; absent label means one unnamed cluster.",
    )

    @field_validator("cluster_label")
    @classmethod
    def _is_label_name(cls, value: str) -> str:
        if not _LABEL_NAME.fullmatch(value):
            raise ValueError("must be a Prometheus label name like cluster or k8s_cluster")
        return value

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_the_url(cls, data: Any) -> Any:
        """user:password@ in prometheus_url becomes basic auth, and leaves the URL: the URL
        is printed in messages, logs and Slack; a password must never be."""
        if not isinstance(data, dict) or not isinstance(data.get("prometheus_url"), str):
            return data
        parts = urlsplit(data["prometheus_url"])
        if parts.username is None and parts.password is None:
            return data
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        cleaned = {**data, "prometheus_url": urlunsplit(parts._replace(netloc=netloc))}
        if parts.username and not data.get("prometheus_username"):
            cleaned["prometheus_username"] = unquote(parts.username)
        if parts.password and not data.get("prometheus_password"):
            cleaned["prometheus_password"] = unquote(parts.password)
        return cleaned

    @field_validator("prometheus_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not re.match(r"https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")
