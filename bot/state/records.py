"""The small records the state keeps and notices carry: alerts, silences, chart requests,
digest summaries. Plain models, no behaviour."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

# Where a container is, as an alert's key spells it: "memory/{cluster}/{ns}/{pod}/{container}".
PLACE = ("cluster", "namespace", "pod", "container")


def alert_key(cluster: str, namespace: str, pod: str, container: str) -> str:
    """A container's memory alert: its key in the state and its thread in the outbox."""
    return f"memory/{cluster}/{namespace}/{pod}/{container}"


class AlertRecord(BaseModel):
    """A memory alert that has fired and is not resolved yet.

    Stored small (an incident keeps thousands in one ConfigMap): the container's place is
    read back from the key, defaults are left out, times kept to the millisecond."""

    key: str
    cluster: str
    namespace: str
    pod: str
    container: str
    workload: str | None = None
    severity: Literal["warning", "critical"]
    channels: list[str]  # every Slack channel it was told in (routes may fan out)
    fired_at: float
    last_notified_at: float
    last_seen_at: float  # last cycle the container had data
    silenced: bool = False
    # Fired against a limit: a cycle without one is missing data for it, never a resolve.
    had_limit: bool = True
    # Fired by a loop of OOM kills, not by the figures: it lasts while kills do.
    kill_loop: bool = False
    # Where its routes also send notices (signed JSON), if anywhere.
    webhooks: list[str] = Field(default_factory=list)
    # Channel -> the storm (or lead replica's) thread it was told in, when it fired with
    # others there: its later notices in that channel are replies there (no message of its own).
    storms: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _place_from_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "key" in data and not all(k in data for k in PLACE):
            prefix, namespace, pod, container = str(data["key"]).rsplit("/", 3)
            cluster = prefix.partition("/")[2]
            place = dict(zip(PLACE, (cluster, namespace, pod, container), strict=True))
            data = {**place, **data}
        return data

    @model_serializer(mode="wrap")
    def _small(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in PLACE:
            data.pop(name, None)
        for name, field in type(self).model_fields.items():
            if name in data and _needless(field, data[name]):
                del data[name]
        for name in ("fired_at", "last_notified_at", "last_seen_at"):
            data[name] = round(data[name], 3)
        return data


def _needless(field: FieldInfo, value: Any) -> bool:
    """A default's value: loading fills it in again."""
    if field.default_factory is not None:
        return not value
    return field.default is not PydanticUndefined and bool(value == field.default)


class KillThread(BaseModel):
    """Where a workload's recent OOM kills are being told, and when the last one was."""

    thread: str
    channels: list[str]
    last_at: float


class Silence(BaseModel):
    """A snooze (expires) or mute (may not) of a container, pod, workload or namespace."""

    id: str
    scope: Literal["container", "pod", "workload", "namespace"]
    cluster: str = ""
    namespace: str
    name: str = ""  # pod, "pod/container" or "kind/name" of a workload; empty for a namespace
    until: float | None = None
    created_by: str
    created_at: float
    reason: str = ""


class Bar(BaseModel):
    """One container in the digest chart: enough to judge it again when drawing."""

    cluster: str
    namespace: str
    pod: str
    container: str
    workload: str | None = None  # named on the chart, as in the digest's text
    working_set_bytes: int | None
    usage_bytes: int | None
    limit_bytes: int | None
    # The container's own thresholds (a pod's podmem.io annotations); None: the settings'.
    warning_ratio: float | None = None
    critical_ratio: float | None = None
    # The verdict the digest counted it by (its trend is not in these figures, so judging
    # again could tell another); None in state written before it was kept: judge again.
    verdict: str | None = None


class ChartRequest(BaseModel):
    """A chart to draw at delivery time (PNG bytes would not fit in a ConfigMap): a memory
    chart of one container, or the digest's bars when `bars` is set."""

    cluster: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    start: float = 0.0
    end: float = 0.0
    bars: list[Bar] | None = None
    kills: list[float] = Field(default_factory=list)  # finished_at of OOM kills to mark
    # Kills whose time is only bounded, at the latest moment they can have happened (see
    # bot.oom.kill_times); drawn apart, as approximate. Absent in state written before.
    approximate_kills: list[float] = Field(default_factory=list)
    # Ask for the container's kills in the range when drawing (an alert fired by kills knows
    # how many, not when).
    find_kills: bool = False
    limit_bytes: int | None = None
    request_bytes: int | None = None


class DigestSummary(BaseModel):
    """Yesterday's digest in numbers, for "change against the day before"."""

    at: float
    critical: int
    warning: int
    kills: int
    no_limit: int
    freeable_bytes: int
