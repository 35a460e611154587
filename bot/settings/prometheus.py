"""Where the numbers come from: the PromQL API and how to reach it."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
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
    check_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description="The longest one check may take, all its queries together: past it the "
        "check fails (monitoring degraded) instead of running into the next. Bounds a server "
        "that answers slowly but steadily, which no per-request timeout catches.",
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
    prometheus_bearer_token_file: Path | None = Field(
        None,
        description="File holding the bearer token, e.g. a projected service-account token "
        "(/var/run/secrets/kubernetes.io/serviceaccount/token) for OpenShift's "
        "thanos-querier or kube-rbac-proxy. Read on every request, as Prometheus reads its "
        "own credentials_file, so a rotated token is used at once. Never logged.",
    )
    prometheus_tls_verify: bool = Field(
        True, description="Verify the TLS certificate of the Prometheus URL. Off only for labs."
    )
    prometheus_ca_file: Path | None = Field(
        None,
        description="PEM bundle of the CAs that sign the Prometheus server's certificate (a "
        "private CA, the cluster's service CA). Replaces the system's trust store for this "
        "connection.",
    )
    prometheus_client_cert_file: Path | None = Field(
        None,
        description="PEM client certificate for mTLS, when Prometheus (or its proxy) asks "
        "for one. Needs prometheus_client_key_file.",
    )
    prometheus_client_key_file: Path | None = Field(
        None,
        description="PEM private key (unencrypted) of prometheus_client_cert_file. Never logged.",
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

    @field_validator(
        "prometheus_bearer_token_file",
        "prometheus_ca_file",
        "prometheus_client_cert_file",
        "prometheus_client_key_file",
    )
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            with value.open("rb") as file:
                if not file.read(1):
                    raise ValueError(f"{value} is empty")
        except OSError as error:
            raise ValueError(f"cannot read {value}: {error.strerror or error}") from None
        return value

    @field_validator("prometheus_bearer_token_file")
    @classmethod
    def _holds_a_token(cls, value: Path | None) -> Path | None:
        if value is not None and read_token(value) is None:
            raise ValueError(f"{value} does not hold a token (one word, no spaces)")
        return value

    @field_validator("prometheus_ca_file")
    @classmethod
    def _is_ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except ssl.SSLError as error:
                raise ValueError(f"{value} is not a PEM CA bundle ({_ssl_reason(error)})") from None
        return value

    @model_validator(mode="after")
    def _access_is_coherent(self) -> PrometheusFields:
        cert, key = self.prometheus_client_cert_file, self.prometheus_client_key_file
        if (cert is None) != (key is None):
            given, missing = (
                ("prometheus_client_cert_file", "prometheus_client_key_file")
                if key is None
                else ("prometheus_client_key_file", "prometheus_client_cert_file")
            )
            raise ValueError(
                f"{given} is set without {missing}: mTLS needs both (for a PEM holding "
                "both, give its path to each)"
            )
        if cert is not None and key is not None:
            try:
                # A password callback that gives none: an encrypted key fails here instead of
                # OpenSSL prompting on a terminal nobody watches.
                ssl.create_default_context().load_cert_chain(cert, key, password=lambda: b"")
            except ssl.SSLError as error:
                raise ValueError(
                    f"prometheus_client_cert_file {cert} and prometheus_client_key_file {key} "
                    f"are not a certificate and its unencrypted key ({_ssl_reason(error)})"
                ) from None
        tls_files = [
            name
            for name in ("prometheus_ca_file", "prometheus_client_cert_file")
            if getattr(self, name) is not None
        ]
        if tls_files and not self.prometheus_url.startswith("https://"):
            raise ValueError(f"{tls_files[0]} is set but prometheus_url is not https://")
        if self.prometheus_ca_file is not None and not self.prometheus_tls_verify:
            raise ValueError(
                "prometheus_ca_file is set but prometheus_tls_verify is false: the CA would "
                "be ignored; keep one"
            )
        tokens = [
            name
            for name in ("prometheus_bearer_token", "prometheus_bearer_token_file")
            if getattr(self, name) is not None
        ]
        if len(tokens) == 2:
            raise ValueError(
                "prometheus_bearer_token and prometheus_bearer_token_file are both set: keep one"
            )
        if tokens and self.prometheus_username is not None:
            raise ValueError(
                f"{tokens[0]} and prometheus_username are both set: Prometheus gets one "
                "Authorization header, bearer or basic; keep one"
            )
        return self

    @field_validator("prometheus_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not re.match(r"https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


def _ssl_reason(error: ssl.SSLError) -> str:
    """OpenSSL's reason (`KEY_VALUES_MISMATCH`, `NO_CERTIFICATE_OR_CRL_FOUND`) without the
    C file and line."""
    return str(error.reason or error.strerror or error).lower().replace("_", " ")


def read_token(path: Path) -> str | None:
    """The bearer token in a file, or None if it cannot be read or holds no single token. A
    trailing newline (echo, kubectl create secret --from-file) is not part of it."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token if token and not re.search(r"\s", token) else None
