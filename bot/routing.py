"""Which channel an alert goes to, and whether a silence covers it. Pure functions."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

from bot.model import ContainerRef
from bot.settings import Route, Settings
from bot.state.document import Silence


def sanitize_label(name: str) -> str:
    """kube-state-metrics exposes pod label `app.kubernetes.io/name` as `app_kubernetes_io_name`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _matches(route: Route, namespace: str, labels: Mapping[str, str]) -> bool:
    if route.namespaces and not any(fnmatch.fnmatchcase(namespace, g) for g in route.namespaces):
        return False
    if route.namespace_regex and not re.fullmatch(route.namespace_regex, namespace):
        return False
    return all(labels.get(sanitize_label(k)) == v for k, v in route.pod_labels.items())


def route_for(namespace: str, labels: Mapping[str, str], settings: Settings) -> Route | None:
    """The first matching route, if any."""
    return next((r for r in settings.routes if _matches(r, namespace, labels)), None)


def channel_for(namespace: str, labels: Mapping[str, str], settings: Settings) -> str | None:
    """The first matching route's channel, else the default channel (None if neither)."""
    route = route_for(namespace, labels, settings)
    return route.channel if route is not None else settings.slack_channel


def webhook_for(namespace: str, labels: Mapping[str, str], settings: Settings) -> str | None:
    """The first matching route's webhook, if it has one."""
    route = route_for(namespace, labels, settings)
    return route.webhook_url if route is not None else None


def active_silence(
    silences: Iterable[Silence], ref: ContainerRef, workload: str | None, at: float
) -> Silence | None:
    for s in silences:
        if s.until is not None and s.until <= at:
            continue
        if (s.cluster and s.cluster != ref.cluster) or s.namespace != ref.namespace:
            continue
        target = {
            "namespace": "",
            "pod": ref.pod,
            "container": f"{ref.pod}/{ref.container}",
            "workload": workload or "",
        }[s.scope]
        if s.name == target:
            return s
    return None
