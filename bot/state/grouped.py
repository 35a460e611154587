"""Open alerts as the state document stores them: grouped by everything but their pod and
container, and read into records only when something looks at them.

A storm's members fired together and live together (same namespace, workload, severity,
channels, times, storm thread), so the facts they share are written once, with the list of
their pods: 2 000 members cost their pod names and little else. An alert that shares nothing
is a group of one, no bigger than its record alone. In memory nothing changes: one
AlertRecord per alert, each with its own lifecycle.

    {"namespace": "shop", "workload": "deployment/api", "severity": "warning", ...,
     "containers": {"app": ["api-7d9f-000", "api-7d9f-001", ...]}}

A drain reads and writes the document once per message it sends and never looks at the
alerts: their groups are checked when read (the first member of each is validated), made into
records only when used, and written back as they were read when they were not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from bot.state.records import AlertRecord, alert_key

# Written per group, not per member (the rest of a member's place is in its "containers").
GROUP_PLACE = ("cluster", "namespace")


def group_alerts(records: Iterable[AlertRecord]) -> list[dict[str, Any]]:
    """The records as groups, in the order each group's first member came; members in order."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        shared = (
            r.cluster,
            r.namespace,
            r.workload,
            r.severity,
            tuple(r.channels),
            r.fired_at,
            r.last_notified_at,
            r.last_seen_at,
            r.silenced,
            r.had_limit,
            r.kill_loop,
            tuple(r.webhooks),
            tuple(sorted(r.storms.items())),
        )
        group = groups.get(shared)
        if group is None:
            facts = r.model_dump()  # the small form: no place, no defaults, times rounded
            del facts["key"]
            group = groups[shared] = {
                **({"cluster": r.cluster} if r.cluster else {}),
                "namespace": r.namespace,
                **facts,
                "containers": {},
            }
        group["containers"].setdefault(r.container, []).append(r.pod)
    return list(groups.values())


class Alerts(MutableMapping[str, AlertRecord]):
    """The open alerts by key (notices.alert_key), as a dict of AlertRecord to everyone."""

    def __init__(self, records: Mapping[str, AlertRecord] | None = None) -> None:
        self._records: dict[str, AlertRecord] | None = dict(records or {})
        # Until first used: each group as read, with its first member validated.
        self._stored: list[tuple[dict[str, Any], AlertRecord]] = []

    @classmethod
    def stored(cls, groups: list[Any]) -> Alerts:
        """The alerts of a document's groups; ValueError where one is not a group."""
        alerts = cls()
        alerts._records = None
        alerts._stored = [(group, _first(group)) for group in groups]
        return alerts

    def groups(self) -> list[dict[str, Any]]:
        """As the document stores them."""
        if self._records is None:
            return [group for group, _ in self._stored]
        return group_alerts(self._records.values())

    def _loaded(self) -> dict[str, AlertRecord]:
        if self._records is None:
            self._records = {}
            for group, first in self._stored:
                self._records |= _members(group, first)
            self._stored = []
        return self._records

    def __getitem__(self, key: str) -> AlertRecord:
        return self._loaded()[key]

    def __setitem__(self, key: str, record: AlertRecord) -> None:
        self._loaded()[key] = record

    def __delitem__(self, key: str) -> None:
        del self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"Alerts({self._loaded()!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(cls.groups),
        )

    @classmethod
    def _validate(cls, value: Any) -> Alerts:
        if isinstance(value, Alerts):
            return value
        if isinstance(value, list):
            return cls.stored(value)
        if isinstance(value, Mapping):  # records, or schema 4's one per key
            return cls({k: AlertRecord.model_validate(v) for k, v in value.items()})
        raise ValueError(f"alerts as {type(value).__name__}, not groups")


def _first(group: Any) -> AlertRecord:
    """The group's first member, validated with the facts all its members share; the names
    of the others checked."""
    if not isinstance(group, dict) or "namespace" not in group:
        raise ValueError("an alert group without a namespace")
    containers = group.get("containers")
    if not isinstance(containers, dict) or not containers:
        raise ValueError("an alert group without containers")
    for container, pods in containers.items():
        if not isinstance(pods, list) or not pods or not all(isinstance(p, str) for p in pods):
            raise ValueError(f"container {container!r} of an alert group without its pods")
    container, pods = next(iter(containers.items()))
    facts = {k: v for k, v in group.items() if k != "containers"}
    place = {"cluster": "", **facts, "pod": pods[0], "container": container}
    key = alert_key(place["cluster"], place["namespace"], pods[0], container)
    return AlertRecord.model_validate({**place, "key": key})


def _members(group: dict[str, Any], first: AlertRecord) -> dict[str, AlertRecord]:
    """Every member of the group: copies of the first with their own place, and their own
    lists (one alert's news must not become all its group's)."""
    members = {first.key: first}
    for container, pods in group["containers"].items():
        for pod in pods:
            key = alert_key(first.cluster, first.namespace, pod, container)
            if key in members:
                continue
            members[key] = first.model_copy(
                update={
                    "key": key,
                    "pod": pod,
                    "container": container,
                    "channels": list(first.channels),
                    "webhooks": list(first.webhooks),
                    "storms": dict(first.storms),
                }
            )
    return members
