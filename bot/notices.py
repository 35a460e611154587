"""What podmem has to say, before anyone decides how it looks: typed, target-neutral notices.

The lifecycle decides *that* something is said and puts a notice in the outbox; each sender
(Slack, a signed webhook) renders it when it sends. A notice carries the observation, not
the words: a memory notice holds the container's figures as the check saw them, and the
assessment (verdict, reason, ratios) is computed again from them — the same pure function,
the same answer — so a notice is a few hundred bytes, and a second destination needs no
change to the lifecycle.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    Field,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from bot.analysis import Assessment, Thresholds, assess
from bot.model import ContainerMemory, ContainerRef, OomKill, PodName
from bot.oom import KillContext
from bot.policy import thresholds_for
from bot.rightsizing import Finding
from bot.state import records
from bot.state.records import AlertRecord, Bar, ChartRequest, DigestSummary, Silence

# A container's numbers, stored as one list in this order: an incident's 500 waiting notices
# must fit a ConfigMap (a few hundred bytes each, not a kilobyte of repeated field names).
FIGURES = (
    "working_set_bytes",
    "working_set_floor_bytes",
    "usage_bytes",
    "rss_bytes",
    "cache_bytes",
    "swap_bytes",
    "limit_bytes",
    "request_bytes",
    "growth_bytes_per_second",
    "started_at",
    "memory_stalled_ratio",
    "restarts",
    "restarts_in_window",
    "oom_events_in_window",
    "oom_events_total",
    "last_working_set_bytes",
)
# Everything else but the identity, stored by name when it is not the default.
NAMED = tuple(
    f.name
    for f in fields(ContainerMemory)
    if f.name not in FIGURES and f.name not in ("ref", "pod_labels")
)


def alert_key(ref: ContainerRef) -> str:
    """A container's memory alert: its key in the state and its thread in the outbox."""
    return records.alert_key(ref.cluster, ref.namespace, ref.pod, ref.container)


class Observation(BaseModel):
    """One container as a check saw it, enough to judge it again exactly as it was judged.
    (Pod labels are left out: they only choose the route, which is chosen already.)"""

    memory: ContainerMemory
    at: float
    oom_kills: int = 0

    @model_serializer
    def _compact(self) -> dict[str, Any]:
        m = self.memory
        numbers = [getattr(m, name) for name in FIGURES]
        while numbers and numbers[-1] is None:
            numbers.pop()
        out: dict[str, Any] = {
            "at": self.at,
            "ref": [m.ref.cluster, m.ref.namespace, m.ref.pod, m.ref.container],
            "figures": numbers,
        }
        if self.oom_kills:
            out["oom_kills"] = self.oom_kills
        for name in NAMED:
            value = getattr(m, name)
            if value not in (None, False, ()):
                out[name] = value
        return out

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "figures" not in data:
            return data
        numbers = list(data["figures"]) + [None] * (len(FIGURES) - len(data["figures"]))
        memory = dict(zip(FIGURES, numbers, strict=True))
        memory |= {name: data[name] for name in NAMED if name in data}
        for pairs in ("threshold_annotations",):
            if pairs in memory:
                memory[pairs] = tuple(tuple(pair) for pair in memory[pairs])
        return {
            "memory": ContainerMemory(ContainerRef(*data["ref"]), **memory),
            "at": data["at"],
            "oom_kills": data.get("oom_kills", 0),
        }

    def assessment(self, base: Thresholds) -> Assessment:
        thresholds, _ = thresholds_for(self.memory, base)
        when = datetime.fromtimestamp(self.at, tz=UTC)
        return assess(self.memory, thresholds, at=when, oom_kills=self.oom_kills)

    @classmethod
    def of(cls, a: Assessment, at: float) -> Observation:
        memory = replace(a.memory, pod_labels=()) if a.memory.pod_labels else a.memory
        return cls(memory=memory, at=at, oom_kills=a.oom_kills)


class StormMember(NamedTuple):
    """One alert of a storm: which container, how bad. A tuple (a row of a storm's table, a
    JSON array elsewhere): a storm's thousands wait in the state while the drain reads it
    once per message, and as models each cost 150 bytes and a validation of its own. The
    object form stored before still reads."""

    ref: tuple[str, str, str, str]  # cluster, namespace, pod, container
    severity: Literal["warning", "critical"]
    workload: str | None = None
    node: str | None = None
    working_set_to_limit: float | None = None


class AlertFired(BaseModel):
    """A memory alert fired. With `others`, replicas of one workload fired together: `seen`
    is the worst of them, `replicas` how many the workload runs, and the others' later
    notices are lines in this alert's thread. `joined`: another replica's alert of the same
    workload is open in this channel, and this one is a line in its thread, not a post."""

    kind: Literal["alert_fired"] = "alert_fired"
    severity: Literal["warning", "critical"]
    seen: Observation
    others: list[StormMember] = Field(default_factory=list)
    replicas: int = 1
    joined: bool = False


class AlertEscalated(BaseModel):
    """Warning became critical. `silence`: the message is kept truthful, nobody is told.
    `in_storm` (on every later notice of an alert): it was told in a storm message, and has
    no message of its own to edit."""

    kind: Literal["alert_escalated"] = "alert_escalated"
    seen: Observation
    silence: Silence | None = None
    in_storm: bool = False


class AlertReminder(BaseModel):
    kind: Literal["alert_reminder"] = "alert_reminder"
    severity: Literal["warning", "critical"]
    fired_at: float
    seen: Observation
    in_storm: bool = False


class AlertResolved(BaseModel):
    """Back below warning − hysteresis; `killed_at`: it got there by an OOM kill and restart."""

    kind: Literal["alert_resolved"] = "alert_resolved"
    severity: Literal["warning", "critical"]  # what it was
    fired_at: float
    seen: Observation
    killed_at: float | None = None
    in_storm: bool = False


class AlertStale(BaseModel):
    """No data for too long: closed without a verdict."""

    kind: Literal["alert_stale"] = "alert_stale"
    alert: AlertRecord
    at: float
    in_storm: bool = False


class Storm(BaseModel):
    """Many alerts that fired together in one namespace or on one node: one message. Scope
    "channel" (no name): several such storms for one channel in one check, as one.

    Its members are stored as a table: every name but the pod's once, in `names`, and a row
    per member of indexes into it, the pod and the ratio. The notice waits in the state while
    Slack is told, and a storm of 2 000 shares its namespaces, workloads and nodes."""

    kind: Literal["storm"] = "storm"
    scope: Literal["namespace", "node", "channel"]
    name: str
    at: float
    alerts: list[StormMember]

    @field_serializer("alerts")
    def _table(self, alerts: list[StormMember]) -> dict[str, Any]:
        names: dict[str | None, int | None] = {None: None}

        def index(name: str | None) -> int | None:
            return names.setdefault(name, len(names) - 1)

        rows = [
            [
                index(m.ref[0]),
                index(m.ref[1]),
                m.ref[2],
                index(m.ref[3]),
                index(m.severity),
                index(m.workload),
                index(m.node),
                m.working_set_to_limit,
            ]
            for m in alerts
        ]
        return {"names": [name for name in names if name is not None], "rows": rows}

    @field_validator("alerts", mode="before")
    @classmethod
    def _from_table(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # members (a storm queued before the table: objects, checked as such)
        try:
            names = value["names"]

            def name(i: int | None) -> str | None:
                return None if i is None else names[i]

            return [
                StormMember(
                    (names[c], names[ns], pod, names[ct]), names[sev], name(wl), name(node), ratio
                )
                for c, ns, pod, ct, sev, wl, node, ratio in value["rows"]
            ]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ValueError(f"a storm's members that do not read ({error!r})") from None


class KilledContainer(BaseModel):
    """One OOM kill with its story and its cause ("limit" or "node")."""

    kill: OomKill
    context: KillContext
    cause: str = "limit"  # "limit" or "node"
    node: str | None = None
    node_top: tuple[tuple[str, int], ...] = ()
    owner_id: str | None = None  # the pod's podmem.io/owner, mentioned


class Kills(BaseModel):
    """OOM kills of one workload close together (the first one's container is charted)."""

    kind: Literal["kills"] = "kills"
    kills: list[KilledContainer]
    at: float  # when the check found them
    # More kills of a workload whose kills were told within kill_thread_seconds: said in
    # that thread (a crash loop is one message), not as a new one.
    follow_up: bool = False


class Evicted(BaseModel):
    kind: Literal["evicted"] = "evicted"
    pod: PodName
    node: str | None = None
    memory_pressure: bool | None = None  # the node's MemoryPressure; None: not exported
    last_working_set_bytes: int | None = None
    workload: str | None = None


class ProcessOom(BaseModel):
    kind: Literal["process_oom"] = "process_oom"
    seen: Observation
    events: int


class MonitoringDegraded(BaseModel):
    kind: Literal["degraded"] = "degraded"
    error: str


class MonitoringRecovered(BaseModel):
    kind: Literal["recovered"] = "recovered"
    since: float
    at: float


class ChannelUnreachable(BaseModel):
    """Slack refuses podmem in a channel (not invited, not found): its notices wait there,
    and the default channel is told so, once."""

    kind: Literal["unreachable"] = "unreachable"
    channel: str
    error: str


class DigestReady(BaseModel):
    """A channel's daily digest: the containers it names (not every container), with the
    counts over all of them, the day's kills and the right-sizing findings."""

    kind: Literal["digest"] = "digest"
    at: float
    containers: int
    counts: dict[str, int]
    shown: list[Observation]
    kills: list[OomKill]
    findings: list[Finding]
    rightsizing_error: str | None = None
    previous: DigestSummary | None = None
    bars: list[Bar] = Field(default_factory=list)
    # Rows of each list ("top", "no_limit", "cache_heavy") beyond those carried in `shown`.
    more: dict[str, int] = Field(default_factory=dict)


class Collapsed(BaseModel):
    """Notices that waited so long the state had no room for them (a destination down in an
    incident): said as one summary rather than lost without a word or failing every write."""

    kind: Literal["collapsed"] = "collapsed"
    count: int
    kinds: dict[str, int]
    first_at: float
    last_at: float


class Rendered(BaseModel):
    """A Slack message queued before notices existed (state schema 1), sent as it was."""

    kind: Literal["rendered"] = "rendered"
    action: Literal["post", "update", "reply", "upload"]
    text: str
    blocks: list[dict[str, object]] | None = None
    chart: ChartRequest | None = None


def observations(notice: BaseModel) -> list[Observation]:
    """The containers a notice tells with their figures (a storm's lines carry a ratio, not
    an observation)."""
    found: list[Observation] = []
    for _, value in notice:
        if isinstance(value, Observation):
            found.append(value)
        elif isinstance(value, list):
            found += [item for item in value if isinstance(item, Observation)]
    return found


def natural_thread(notice: BaseModel) -> str | None:
    """The thread a notice belongs to when its own figures name it (a container's alert):
    the outbox then need not store it twice."""
    if isinstance(notice, AlertFired | AlertEscalated | AlertReminder | AlertResolved):
        return alert_key(notice.seen.memory.ref)
    return None


Notice = Annotated[
    AlertFired
    | AlertEscalated
    | AlertReminder
    | AlertResolved
    | AlertStale
    | Kills
    | Evicted
    | ProcessOom
    | MonitoringDegraded
    | MonitoringRecovered
    | ChannelUnreachable
    | DigestReady
    | Storm
    | Collapsed
    | Rendered,
    Field(discriminator="kind"),
]
