"""The `/podmem` grammar: what a user typed, parsed and validated, or one clear error.

/podmem POD | NS/POD | POD -n NS | PREFIX        a pod's report
/podmem deploy/NAME -n NS  (sts/, ds/)           a workload's pods
/podmem top [-n NS]                              the containers closest to their limit
/podmem silences [-n NS]                         active snoozes and mutes, each with Unmute
/podmem help
options: --range 6h  --at 03:12|RFC 3339|-2h  --cluster NAME  --share
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.errors import InputError
from bot.targets import (
    Target,
    parse_target,
    validate_cluster,
    validate_namespace,
    validate_pod_prefix,
)
from bot.units import parse_duration, parse_instant

USAGE = (
    "Usage: `/podmem POD` · `NS/POD` · `POD -n NS` · `deploy/NAME -n NS` (also `sts/`, `ds/`) · "
    "`top [-n NS]` · `silences [-n NS]` · `help` — options `--range 6h`, `--at 03:12`, "
    "`--cluster NAME`, `--share`"
)
WORKLOAD_PREFIXES = {
    "deploy": "deployment",
    "deployment": "deployment",
    "sts": "statefulset",
    "statefulset": "statefulset",
    "ds": "daemonset",
    "daemonset": "daemonset",
}
MAX_RANGE_SECONDS = 30 * 86400
MAX_TEXT = 300


@dataclass(frozen=True, slots=True)
class SlashCommand:
    kind: Literal["help", "top", "silences", "pod", "workload"]
    target: Target | None = None
    workload: str | None = None  # e.g. "deployment/api"
    namespace: str | None = None
    cluster: str | None = None  # only this cluster's pods (a multi-cluster Prometheus)
    range_seconds: float | None = None
    at: datetime | None = None
    share: bool = False


def parse_when(text: str, *, now: datetime, zone: ZoneInfo) -> datetime:
    """`03:12` (the last such time in the configured zone), `-2h`, RFC 3339 or Unix seconds."""
    if match := re.fullmatch(r"(\d{1,2}):(\d{2})", text):
        hour, minute = int(match[1]), int(match[2])
        if hour > 23 or minute > 59:
            raise InputError(f"bad time {text!r}: hours 0-23, minutes 0-59")
        local = now.astimezone(zone).replace(hour=hour, minute=minute, second=0, microsecond=0)
        if local > now:
            local -= timedelta(days=1)
        return local
    if text.startswith("-"):
        return now - timedelta(seconds=parse_duration(text[1:]))
    when = parse_instant(text)
    if when > now:
        raise InputError(f"{text!r} is in the future: podmem can only look back")
    return when


def parse_command(text: str, *, now: datetime, zone: ZoneInfo) -> SlashCommand:
    cleaned = text.strip()
    if len(cleaned) > MAX_TEXT:
        raise InputError(
            f"that is {len(cleaned)} characters; a /podmem command is at most {MAX_TEXT}"
        )
    parts = cleaned.split()
    positional: list[str] = []
    namespace = at = cluster = None
    range_seconds = None
    share = False
    index = 0
    while index < len(parts):
        part = parts[index]
        if part in ("-n", "--namespace", "--range", "--at", "--cluster"):
            if index + 1 >= len(parts):
                raise InputError(f"{part} needs a value")
            value = parts[index + 1]
            index += 2
            if part in ("-n", "--namespace"):
                namespace = validate_namespace(value)
            elif part == "--cluster":
                cluster = validate_cluster(value)
            elif part == "--range":
                range_seconds = parse_duration(value)
                if range_seconds > MAX_RANGE_SECONDS:
                    raise InputError("--range is at most 30d")
            else:
                at = parse_when(value, now=now, zone=zone)
            continue
        if part == "--share":
            share = True
        elif part.startswith("-"):
            raise InputError(f"unknown option {part[:40]!r}")
        else:
            positional.append(part)
        index += 1
    options = {
        "namespace": namespace,
        "cluster": cluster,
        "range_seconds": range_seconds,
        "at": at,
        "share": share,
    }
    if positional == ["help"] or not cleaned:
        return SlashCommand("help")
    if not positional:
        raise InputError("name a pod, a workload or `top`")
    if len(positional) > 1:
        raise InputError(
            f"one target at a time, not {len(positional)}: {' '.join(positional)[:80]!r}"
        )
    (word,) = positional
    if word in ("top", "silences"):
        return SlashCommand(word, **options)  # type: ignore[arg-type]
    kind, slash, name = word.partition("/")
    if slash and kind in WORKLOAD_PREFIXES:
        if namespace is None:
            raise InputError(f"which namespace? `/podmem {word} -n NAMESPACE`")
        validate_pod_prefix(name)
        return SlashCommand("workload", workload=f"{WORKLOAD_PREFIXES[kind]}/{name}", **options)  # type: ignore[arg-type]
    return SlashCommand("pod", target=parse_target(word, namespace, cluster), **options)  # type: ignore[arg-type]
