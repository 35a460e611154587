"""One settings object for the whole bot: defaults < YAML file < `PODMEM_*` env < CLI flags.

Every field says its unit and why its default is what it is, because these are the knobs an
SRE turns at 3 a.m. and the README's configuration reference is generated from them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class ConfigError(ValueError):
    """The configuration is unusable. The message names the key and is shown as is."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PODMEM_",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # --- Prometheus -----------------------------------------------------------------------
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

    # --- Kubernetes -----------------------------------------------------------------------
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

    # --- OOM kills ------------------------------------------------------------------------
    oom_lookback_seconds: float = Field(
        900,
        ge=60,
        description="Seconds: a kill older than this is history, not news. 15 min covers a "
        "few missed check cycles without re-announcing yesterday's kills.",
    )
    oom_group_window_seconds: float = Field(
        600,
        ge=0,
        description="Seconds: kills of pods of one workload this close together form one group "
        "(one message), as a bad rollout kills many replicas at once.",
    )
    oom_context_seconds: float = Field(
        900,
        ge=60,
        description="Seconds of memory history before a kill used for its peaks and story.",
    )

    # --- Verdict thresholds ---------------------------------------------------------------
    warning_ratio: float = Field(
        0.80,
        gt=0,
        lt=1,
        description="Working set / limit at or above which a container is `warning`.",
    )
    critical_ratio: float = Field(
        0.90,
        gt=0,
        le=1,
        description="Working set / limit at or above which a container is `critical`.",
    )
    critical_time_to_limit_seconds: float = Field(
        1800,
        ge=0,
        description="Seconds: a container whose working set, growing at its current rate, "
        "reaches the limit sooner than this is `critical` whatever its ratio. 30 min leaves "
        "time to act before the kill.",
    )
    cache_heavy_usage_ratio: float = Field(
        0.90,
        gt=0,
        le=1,
        description="Usage / limit at or above which a container whose working set is below "
        "the warning ratio is called `cache_heavy`: it looks full, but the kernel will "
        "reclaim the cache before it kills anything.",
    )
    for_duration_seconds: float = Field(
        300,
        ge=0,
        description="Seconds a ratio must hold before it counts, evaluated statelessly as "
        "min_over_time in PromQL, so a restart of the bot changes nothing. 5 min, as in "
        "most Alertmanager memory rules: one GC spike does not page anyone.",
    )
    trend_window_seconds: float = Field(
        1800,
        ge=120,
        description="Seconds of history used for the growth rate (PromQL deriv). 30 min "
        "smooths GC saw-teeth yet still sees a leak start.",
    )
    report_range_seconds: float = Field(
        10800,
        ge=300,
        description="Seconds of history a report shows by default (3 h).",
    )

    @field_validator("cluster_label")
    @classmethod
    def _is_label_name(cls, value: str) -> str:
        if not _LABEL_NAME.fullmatch(value):
            raise ValueError("must be a Prometheus label name like cluster or k8s_cluster")
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not re.match(r"https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.critical_ratio < self.warning_ratio:
            raise ValueError("critical_ratio must be at or above warning_ratio")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier wins: CLI flags (init) over env over the YAML file.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def env_name(field: str) -> str:
    return f"PODMEM_{field.upper()}"


def load_settings(config_file: Path | None = None, **cli_overrides: Any) -> Settings:
    """Build the settings, turning every failure into one ConfigError that names the key."""
    if config_file is not None:
        _check_yaml_file(config_file)
    configured: type[Settings] = type(
        "ConfiguredSettings",
        (Settings,),
        {"model_config": {**Settings.model_config, "yaml_file": config_file}},
    )
    overrides = {key: value for key, value in cli_overrides.items() if value is not None}
    try:
        return configured(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def _check_yaml_file(path: Path) -> None:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must be a mapping of key: value")


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (see the configuration reference in the README)"
        field = key.split(".")[0]
        where = f"{key} ({env_name(field)})" if field in Settings.model_fields else key
        problems.append(f"{where}: {message}")
    return "config error: " + "; ".join(problems)
