"""The state document: everything podmem must remember between cycles, replicas and crashes.

One JSON document, written whole under optimistic concurrency, keeps both stores simple and
equally correct: SQLite for one replica, a ConfigMap for several. It stays small (firing
alerts, kills seen in the last day, silences, undelivered notifications), well under the
1 MiB a ConfigMap can hold.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.errors import StateError

SCHEMA_VERSION = 1


class AlertRecord(BaseModel):
    """A memory alert that has fired and is not resolved yet."""

    key: str
    cluster: str
    namespace: str
    pod: str
    container: str
    workload: str | None = None
    severity: Literal["warning", "critical"]
    channel: str
    fired_at: float
    last_notified_at: float
    last_seen_at: float  # last cycle the container had data
    silenced: bool = False
    # Fired against a limit: a cycle without one is missing data for it, never a resolve.
    had_limit: bool = True
    # Fired by a loop of OOM kills, not by the figures: it lasts while kills do.
    kill_loop: bool = False


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
    working_set_bytes: int | None
    usage_bytes: int | None
    limit_bytes: int | None
    # The container's own thresholds (a pod's podmem.io annotations); None: the settings'.
    warning_ratio: float | None = None
    critical_ratio: float | None = None


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
    limit_bytes: int | None = None
    request_bytes: int | None = None


class Notification(BaseModel):
    """One message to Slack, persisted before it is sent, removed once Slack accepts it.

    `thread` names the message this one belongs to: a post records its ts under it; an
    update or reply looks the ts up when it is sent (the post may still be pending)."""

    id: str
    action: Literal["post", "update", "reply", "upload"]
    channel: str
    thread: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    chart: ChartRequest | None = None
    created_at: float
    attempts: int = 0
    last_error: str | None = None


class MessageRef(BaseModel):
    channel: str
    ts: str
    posted_at: float = 0.0


class Degraded(BaseModel):
    since: float
    error: str


class DigestSummary(BaseModel):
    """Yesterday's digest in numbers, for "change against the day before"."""

    at: float
    critical: int
    warning: int
    kills: int
    no_limit: int
    freeable_bytes: int


class State(BaseModel):
    schema_version: int = SCHEMA_VERSION
    watching_since: float | None = None
    next_id: int = 1
    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    # Kill identity ("cluster/ns/pod/container#restart") -> when it was first seen.
    kills_seen: dict[str, float] = Field(default_factory=dict)
    silences: list[Silence] = Field(default_factory=list)
    outbox: list[Notification] = Field(default_factory=list)
    # Notifications Slack refused for good (unknown channel, invalid blocks): kept, not lost.
    dead_letters: list[Notification] = Field(default_factory=list)
    messages: dict[str, MessageRef] = Field(default_factory=dict)
    degraded: Degraded | None = None
    digests: dict[str, DigestSummary] = Field(default_factory=dict)  # by channel

    def new_id(self) -> str:
        value = self.next_id
        self.next_id += 1
        return f"n{value}"


# Migrations from each older schema version to the next, applied on load.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def load_state(raw: str | None) -> State:
    if not raw:
        return State()
    try:
        data: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError as error:
        raise StateError(f"state is not valid JSON ({error}); restore it or remove it") from None
    version = int(data.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state was written by a newer podmem (schema {version} > {SCHEMA_VERSION}); "
            "upgrade this replica"
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    data["schema_version"] = SCHEMA_VERSION
    return State.model_validate(data)


def dump_state(state: State) -> str:
    return state.model_dump_json(exclude_defaults=False)


class Conflict(StateError):
    """Someone else wrote the state since we read it: read again and redo the change."""
