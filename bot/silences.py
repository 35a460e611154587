"""Snoozes and mutes from the command line (the Slack buttons call the same functions)."""

from __future__ import annotations

from typing import Literal

from bot.errors import InputError
from bot.state.document import Silence, State
from bot.targets import validate_namespace, validate_pod_prefix

Scope = Literal["container", "pod", "workload", "namespace"]
SCOPES: tuple[Scope, ...] = ("container", "pod", "workload", "namespace")
FORMS = {
    "container": "NAMESPACE/POD/CONTAINER",
    "pod": "NAMESPACE/POD",
    "workload": "NAMESPACE/KIND/NAME, e.g. shop/deployment/api",
    "namespace": "NAMESPACE",
}
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "job", "cronjob", "replicaset")


def parse_silence_target(scope: str, target: str) -> tuple[Scope, str, str]:
    """(scope, namespace, name) from what a user typed, every part validated."""
    if scope not in SCOPES:
        raise InputError(f"silence what? one of: {', '.join(SCOPES)}")
    parts = target.strip().split("/")
    expected = {"namespace": 1, "pod": 2, "container": 3, "workload": 3}[scope]
    if len(parts) != expected or not all(parts):
        raise InputError(f"a {scope} is given as {FORMS[scope]}, not {target!r}")
    namespace = validate_namespace(parts[0])
    for part in parts[1:]:
        validate_pod_prefix(part)
    if scope == "workload" and parts[1] not in WORKLOAD_KINDS:
        raise InputError(f"workload kind {parts[1]!r}: one of {', '.join(WORKLOAD_KINDS)}")
    return scope, namespace, "/".join(parts[1:])


def add_silence(
    state: State,
    *,
    scope: Scope,
    namespace: str,
    name: str,
    cluster: str,
    until: float | None,
    by: str,
    reason: str,
    at: float,
) -> Silence:
    """Add (or replace: one silence per target) a silence."""
    remove_silence(state, scope=scope, namespace=namespace, name=name, cluster=cluster)
    silence = Silence(
        id=state.new_id(),
        scope=scope,
        cluster=cluster,
        namespace=namespace,
        name=name,
        until=until,
        created_by=by,
        created_at=at,
        reason=reason,
    )
    state.silences.append(silence)
    return silence


def remove_silence(state: State, *, scope: Scope, namespace: str, name: str, cluster: str) -> int:
    before = len(state.silences)
    state.silences = [
        s
        for s in state.silences
        if (s.scope, s.namespace, s.name, s.cluster) != (scope, namespace, name, cluster)
    ]
    return before - len(state.silences)


def remove_silence_by_id(state: State, silence_id: str) -> Silence | None:
    """Lift one silence (a listing's Unmute button); None if it is gone already."""
    found = next((s for s in state.silences if s.id == silence_id), None)
    if found is not None:
        state.silences = [s for s in state.silences if s.id != silence_id]
    return found


BUTTON_SNOOZES = {"podmem_snooze_1h": 3600.0, "podmem_snooze_24h": 86400.0}
# The "⋯" menu's snoozes of one pod's container only (the buttons snooze its workload).
CONTAINER_SNOOZES = {"1h": 3600.0, "24h": 86400.0}


def apply_button(
    state: State,
    *,
    action: str,
    cluster: str,
    namespace: str,
    pod: str,
    container: str,
    workload: str,
    by: str,
    at: float,
    mute_seconds: float,
    span: str = "",
) -> Silence | None:
    """A Slack button: snooze its workload (a rollout keeps the snooze; a bare pod's
    container otherwise), mute the workload for `mute_seconds`, or lift them all (None).
    `podmem_snooze_container` (the "⋯" menu) snoozes the pod's container alone for `span`."""
    if action == "podmem_unmute":
        targets: list[tuple[Scope, str]] = [
            ("container", f"{pod}/{container}"),
            ("pod", pod),
            ("workload", workload),
        ]
        for scope, name in targets:
            remove_silence(state, scope=scope, namespace=namespace, name=name, cluster=cluster)
        return None
    if action == "podmem_mute_workload":
        if not workload:
            raise InputError("this container belongs to no known workload")
        return add_silence(
            state,
            scope="workload",
            namespace=namespace,
            name=workload,
            cluster=cluster,
            until=at + mute_seconds,
            by=by,
            reason="from Slack",
            at=at,
        )
    if action == "podmem_snooze_container":
        if span not in CONTAINER_SNOOZES:
            raise InputError(f"snooze for how long? {span!r} is not one of the menu's")
        return add_silence(
            state,
            scope="container",
            namespace=namespace,
            name=f"{pod}/{container}",
            cluster=cluster,
            until=at + CONTAINER_SNOOZES[span],
            by=by,
            reason="from Slack",
            at=at,
        )
    if action not in BUTTON_SNOOZES:
        raise InputError(f"unknown button {action!r}")
    return add_silence(
        state,
        scope="workload" if workload else "container",
        namespace=namespace,
        name=workload or f"{pod}/{container}",
        cluster=cluster,
        until=at + BUTTON_SNOOZES[action],
        by=by,
        reason="from Slack",
        at=at,
    )
