"""Where a notice goes (channels and webhooks), and whether a silence covers it. Pure functions."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.model import ContainerRef
from bot.settings import Route, Settings
from bot.state.document import Silence


def sanitize_label(name: str) -> str:
    """kube-state-metrics exposes pod label `app.kubernetes.io/name` as `app_kubernetes_io_name`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


Severity = Literal["warning", "critical"]


@dataclass(frozen=True, slots=True)
class Destinations:
    """Every place one notice goes: Slack channels and webhook URLs, each once, in order."""

    channels: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.channels or self.webhooks)


def _matches(
    route: Route,
    ref: ContainerRef,
    labels: Mapping[str, str],
    severity: Severity | None,
) -> bool:
    namespace = ref.namespace
    if route.namespaces and not any(fnmatch.fnmatchcase(namespace, g) for g in route.namespaces):
        return False
    if route.namespace_regex and not re.fullmatch(route.namespace_regex, namespace):
        return False
    if route.clusters and not any(fnmatch.fnmatchcase(ref.cluster, g) for g in route.clusters):
        return False
    if route.severities and severity not in route.severities:
        return False  # also a digest (no severity): a pager route is not for reading
    return all(labels.get(sanitize_label(k)) == v for k, v in route.pod_labels.items())


def destinations(
    ref: ContainerRef,
    labels: Mapping[str, str],
    settings: Settings,
    severity: Severity | None = None,
) -> Destinations:
    """Where a notice about `ref` of this severity goes (None: a digest, no severity).

    Routes in order; the first match ends the search unless it says `continue`. When no
    route matches, the default channel. `ref.container` may be empty (a pod's notice)."""
    channels: list[str] = []
    webhooks: list[str] = []
    matched = False
    for route in settings.routes:
        if not _matches(route, ref, labels, severity):
            continue
        matched = True
        channels += route.all_channels
        if route.webhook_url:
            webhooks.append(route.webhook_url)
        if not route.continue_matching:
            break
    if not matched and settings.slack_channel:
        channels.append(settings.slack_channel)
    return Destinations(tuple(dict.fromkeys(channels)), tuple(dict.fromkeys(webhooks)))


def every_destination(settings: Settings) -> Destinations:
    """Everyone who hears about podmem itself (monitoring degraded and recovered): the default
    channel, else the first route's channels, and every webhook."""
    if settings.slack_channel:
        channels: list[str] = [settings.slack_channel]
    else:
        channels = next((r.all_channels for r in settings.routes if r.all_channels), [])
    hooks = [r.webhook_url for r in settings.routes if r.webhook_url]
    return Destinations(tuple(channels), tuple(sorted(set(hooks))))


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
