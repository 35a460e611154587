"""A notice as the JSON a webhook receives: the notice itself, with every container it
carries judged again and written out as the report's JSON contract (PRODUCT.md 1.4) names
its fields — verdict, reason, ratios — rather than the compact form the state stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.analysis import Thresholds
from bot.notices import Observation, StormMember
from bot.render.json_output import container_fields
from bot.state.document import Notification

# Bumped only if a field is renamed or removed (fields may be added at any time).
PAYLOAD_VERSION = 1


def payload(note: Notification, base: Thresholds) -> dict[str, Any]:
    notice = note.notice
    body = notice.model_dump(mode="json", exclude_none=True)
    for name, value in notice:
        if isinstance(value, Observation):
            body[name] = _container(value, base)
        elif isinstance(value, list) and value and isinstance(value[0], Observation):
            body[name] = [_container(seen, base) for seen in value]
        elif isinstance(value, list) and value and isinstance(value[0], StormMember):
            body[name] = [_member(member) for member in value]  # objects, as they always were
    return {
        "podmem": PAYLOAD_VERSION,
        "id": note.id,
        "kind": notice.kind,
        "thread": note.thread,
        "created_at": _instant(note.created_at),
        "notice": body,
    }


def _member(member: StormMember) -> dict[str, Any]:
    return {
        name: list(value) if name == "ref" else value
        for name, value in member._asdict().items()
        if value is not None
    }


def _container(seen: Observation, base: Thresholds) -> dict[str, Any]:
    return {"at": _instant(seen.at), **container_fields(seen.assessment(base))}


def _instant(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat().replace("+00:00", "Z")
