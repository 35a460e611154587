"""How the long-running bot behaves: schedule, state, HTTP port."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import available_timezones

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, Field, field_validator


class RuntimeFields(BaseModel):
    check_interval_seconds: float = Field(
        60, ge=5, description="Seconds between checks. 60 s: cAdvisor is scraped every 15-60 s."
    )
    digest_cron: str = Field(
        "0 9 * * *", description="When the daily digest is posted (crontab, 5 fields)."
    )
    timezone: str = Field("UTC", description="Time zone of digest_cron and of times in messages.")
    misfire_grace_seconds: float = Field(
        30,
        ge=1,
        description="A scheduled run late by more than this is skipped, not run twice.",
    )
    state_backend: Literal["sqlite", "kubernetes"] = Field(
        "sqlite",
        description="Where alert state, seen kills, silences and the outbox live. "
        "`kubernetes` (a ConfigMap) for replicas > 1.",
    )
    state_path: Path = Field(
        Path("podmem-state.db"), description="SQLite file for state_backend=sqlite."
    )
    state_configmap: str = Field(
        "podmem-state", description="ConfigMap for state_backend=kubernetes."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of `podmem run` and `podmem check --once`."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one readable line per event. `json`: one JSON object per line "
        "(time, level, logger, message, the check's counts, a traceback as one `exception` "
        "field) for Loki, Elasticsearch or Cloud Logging; then podmem's notes and errors on "
        "stderr are JSON lines too, and stdout keeps each command's answer.",
    )
    retry_after_max_seconds: float = Field(
        60,
        ge=0,
        description="Longest wait podmem honours when Slack or Prometheus answers 429/503 "
        "with Retry-After, seconds; a longer ask is retried at the next check instead. 60 s: "
        "a check must not stall for as long as a server says (Prometheus's wait is also "
        "bounded by prometheus_timeout_seconds).",
    )
    shutdown_grace_seconds: float = Field(
        8,
        gt=0,
        description="On SIGTERM, how long a running check may go on, seconds: it sends for "
        "half of it, then stops between notices; podmem exits at its end. 8 s: inside "
        "Kubernetes' default 30 s grace and the 10 s podmem promises; a notice cut off "
        "mid-send is looked up, not posted twice, after the restart.",
    )
    chart_processes: int = Field(
        1,
        ge=0,
        le=16,
        description="Worker processes that draw charts for `podmem run`; 0 = on the bot's "
        "own threads. A chart is ~70 ms of CPU under Python's global lock: drawn apart, "
        "50 reports at once do not queue behind each other's charts on one core. Each "
        "worker holds ~60 MiB (matplotlib). One-shot commands always draw in-process.",
    )
    http_port: int = Field(
        3000,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz, /metrics and, in HTTP mode, /slack/events "
        "(Bolt's path); 0 = off. With metrics_port set, only /slack/events.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz and /metrics apart from /slack/events, so the "
        "port exposed to Slack serves nothing else; 0 = off. Unset: they share http_port.",
    )

    @field_validator("digest_cron")
    @classmethod
    def _is_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"not a 5-field crontab: {error}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _is_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("not an IANA time zone, e.g. Europe/Berlin or UTC")
        return value
