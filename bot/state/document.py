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

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    field_serializer,
    model_serializer,
    model_validator,
)

from bot.errors import StateError
from bot.notices import Notice, natural_thread
from bot.state.grouped import Alerts
from bot.state.records import (
    AlertRecord,
    Bar,
    ChartRequest,
    DigestSummary,
    KillThread,
    Silence,
)

__all__ = ["AlertRecord", "Bar", "ChartRequest", "DigestSummary", "KillThread", "Silence"]

SCHEMA_VERSION = 6
Target = Literal["slack", "webhook"]
# Built once: building it costs a millisecond, and every load of the state read every waiting
# alert notice through it (a storm's drain loads the state once per message sent).
NOTICE = TypeAdapter[Notice](Notice)


class Notification(BaseModel):
    """One notice on its way to one destination, persisted before it is sent and removed once
    the destination took all of it.

    `target` is the sender ("slack" or "webhook"); `channel` its address (a Slack channel, a
    webhook URL). `thread` names the conversation the notice belongs to (an alert's key): Slack
    records the ts of its first post under it, later notices of the thread edit or answer it.
    A notice may take several calls to send (a post and its chart): `parts_sent` counts those
    done, so a retry goes on where the last attempt stopped.

    Before a drain sends it, it claims it: `claimed_by` names the drain (host, process and a
    token) and `claimed_until` ends the lease, so two drains never send the same notice.
    `maybe_sent`: an attempt may have reached Slack without our hearing so (a timeout, a
    holder that died mid-send); the next attempt looks for it before posting again."""

    id: str
    target: Target = "slack"
    channel: str
    thread: str
    notice: Notice
    created_at: float
    attempts: int = 0
    parts_sent: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    claimed_until: float | None = None
    maybe_sent: bool = False

    @field_serializer("notice")
    def _compact(self, notice: BaseModel) -> dict[str, Any]:
        # A missing figure is absent, not null: 500 waiting notices stay under 256 KiB.
        return notice.model_dump(mode="json", exclude_none=True)

    @model_serializer(mode="wrap")
    def _without_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data["thread"] == natural_thread(self.notice):
            del data["thread"]  # an alert's notices name their thread already
        for name, default in (("target", "slack"), ("attempts", 0), ("parts_sent", 0)):
            if data.get(name) == default:
                del data[name]
        for name in ("last_error", "claimed_by", "claimed_until"):
            if data.get(name) is None:
                data.pop(name, None)
        if not data.get("maybe_sent"):
            data.pop("maybe_sent", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _with_thread(cls, data: Any) -> Any:
        if isinstance(data, dict) and "thread" not in data and "notice" in data:
            notice = NOTICE.validate_python(data["notice"])
            data = {**data, "notice": notice, "thread": natural_thread(notice)}
        return data

    @property
    def kind(self) -> str:
        return self.notice.kind

    @property
    def message_key(self) -> str:
        """Where the first post of this notice's thread is remembered: per channel, since one
        thread (an alert) may be told in several channels."""
        return message_key(self.channel, self.thread)


def message_key(channel: str, thread: str) -> str:
    return f"{channel} {thread}"


class MessageRef(BaseModel):
    channel: str
    ts: str
    posted_at: float = 0.0


class Degraded(BaseModel):
    since: float
    error: str


class State(BaseModel):
    schema_version: int = SCHEMA_VERSION
    watching_since: float | None = None
    next_id: int = 1
    # Open memory alerts by key, stored grouped (bot.state.grouped).
    alerts: Alerts = Field(default_factory=Alerts)
    # Kill identity ("cluster/ns/pod/container#restart") -> when it was first seen.
    kills_seen: dict[str, float] = Field(default_factory=dict)
    # Workload ("cluster/namespace/owner") -> the thread its recent kills are told in.
    kill_threads: dict[str, KillThread] = Field(default_factory=dict)
    silences: list[Silence] = Field(default_factory=list)
    outbox: list[Notification] = Field(default_factory=list)
    # Notifications Slack refused for good (unknown channel, invalid blocks): kept, not lost.
    dead_letters: list[Notification] = Field(default_factory=list)
    messages: dict[str, MessageRef] = Field(default_factory=dict)
    degraded: Degraded | None = None
    digests: dict[str, DigestSummary] = Field(default_factory=dict)  # by channel
    # Slack channels podmem cannot post to (not invited, not found) -> since when: their
    # notices wait there, and the default channel was told once.
    unreachable: dict[str, float] = Field(default_factory=dict)

    def message_for(self, note: Notification) -> MessageRef | None:
        """The message a notice edits or answers. Messages recorded by schema 2 are keyed by
        thread alone (one channel per thread then); they age out within a week."""
        return self.messages.get(note.message_key) or self.messages.get(note.thread)

    def new_id(self) -> str:
        value = self.next_id
        self.next_id += 1
        return f"n{value}"


def _rendered_notices(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 queued Slack messages already rendered: they go out as they were."""

    def upgrade(old: dict[str, Any]) -> dict[str, Any]:
        notice = {key: old.pop(key, None) for key in ("action", "text", "blocks", "chart")}
        return {**old, "target": "slack", "notice": {"kind": "rendered", **notice}}

    for key in ("outbox", "dead_letters"):
        data[key] = [upgrade(dict(note)) for note in data.get(key, [])]
    return data


def _fan_out(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 sent an alert to one channel and one webhook: records name lists now."""

    def alert(old: dict[str, Any]) -> dict[str, Any]:
        new = dict(old)
        channel, webhook, storm = (new.pop(k, None) for k in ("channel", "webhook", "storm"))
        new["channels"] = [channel] if channel else []
        new["webhooks"] = [webhook] if webhook else []
        new["storms"] = {channel: storm} if channel and storm else {}
        return new

    def note(old: dict[str, Any]) -> dict[str, Any]:
        notice = old.get("notice") or {}
        if notice.get("kind") != "alert_stale":
            return old
        record = notice.get("alert") or {}
        in_storm = bool(record.get("storm"))
        return {**old, "notice": {**notice, "alert": alert(record), "in_storm": in_storm}}

    data["alerts"] = {k: alert(v) for k, v in data.get("alerts", {}).items()}
    data["kill_threads"] = {
        k: {"thread": v["thread"], "channels": [v["channel"]], "last_at": v["last_at"]}
        for k, v in data.get("kill_threads", {}).items()
    }
    for key in ("outbox", "dead_letters"):
        data[key] = [note(dict(n)) for n in data.get(key, [])]
    return data


def _leases(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 4 adds claims on notices and unreachable channels, both empty at first. The
    version moves so that an older replica refuses a state whose claims it would ignore."""
    return data


def _grouped_alerts(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 5 stores open alerts grouped (bot.state.grouped); schema 4's, one record per
    key, load as they are and are written grouped. The version moves so that an older
    replica refuses a document whose alerts it cannot read, rather than call it damaged."""
    return data


def _channel_storms(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 6 adds storms of a whole channel (scope "channel": several namespaces' or
    nodes' storms of one check, as one message). Schema 5's storms load as they are; the
    version moves so that an older replica refuses a document holding one, rather than call
    it damaged."""
    return data


# Migrations from each older schema version to the next, applied on load.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _rendered_notices,
    2: _fan_out,
    3: _leases,
    4: _grouped_alerts,
    5: _channel_storms,
}


def load_state(raw: str | None) -> State:
    if not raw:
        return State()
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Damaged(f"not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise Damaged(f"JSON {type(data).__name__}, not podmem's state document")
    try:
        version = int(data.get("schema_version", 1))
    except (TypeError, ValueError):
        raise Damaged(f"schema_version {data.get('schema_version')!r}") from None
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state was written by a newer podmem (schema {version} > {SCHEMA_VERSION}); "
            "upgrade this replica"
        )
    try:
        while version < SCHEMA_VERSION:
            data = MIGRATIONS[max(version, 1)](data)
            version = max(version, 1) + 1
        data["schema_version"] = SCHEMA_VERSION
        return State.model_validate(data)
    except (ValidationError, KeyError, TypeError, AttributeError, ValueError) as error:
        raise Damaged(f"not podmem's state schema {SCHEMA_VERSION}: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        return f"{error.error_count()} problem(s), first at {where}: {first['msg']}"
    return f"{type(error).__name__}: {str(error)[:120]}"


def dump_state(state: State) -> str:
    return state.model_dump_json(exclude_defaults=False)


class Damaged(StateError):
    """The stored state cannot be read as podmem's document. Its store names where it is and
    what to do; podmem never starts empty over it (it would say everything again)."""


class Conflict(StateError):
    """Someone else wrote the state since we read it: read again and redo the change."""
