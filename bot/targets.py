"""What a user typed (`POD`, `NS/POD`, `POD -n NS`, a prefix) to the pods it means.

Every name is validated as a Kubernetes name before anything is queried: hostile text such as
`x"}) or vector(1) or up{a="` is refused here and never reaches PromQL.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import InputError
from bot.model import PodName
from bot.promql import Scope

# DNS-1123 subdomain (pod names) and label (namespaces), as the API server enforces them.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# A prefix may end anywhere a name may continue: in a dash or a dot.
_PREFIX = re.compile(r"[a-z0-9][-a-z0-9.]*")
# A cluster is a label value, so anything goes in Prometheus; podmem takes what cluster names
# look like (letters, digits, . _ : -) so nothing odd reaches a query or a message.
_CLUSTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
MAX_CLUSTER = 63
MAX_POD_NAME = 253
MAX_NAMESPACE = 63


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed request for a pod; `pod` may be a full name or a prefix of one."""

    pod: str
    namespace: str | None = None
    cluster: str | None = None  # only pods of this cluster (a multi-cluster Prometheus)

    def __str__(self) -> str:
        name = f"{self.namespace}/{self.pod}" if self.namespace else self.pod
        return f"{self.cluster}:{name}" if self.cluster else name


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _name(text: str, pattern: re.Pattern[str], longest: int, what: str, allowed: str) -> str:
    if len(text) > longest or not pattern.fullmatch(text):
        raise InputError(
            f"{_show(text)} is not a {what} name: {allowed}, at most {longest} characters"
        )
    return text


def validate_namespace(namespace: str) -> str:
    allowed = "lower-case letters, digits and '-'"
    return _name(namespace, _LABEL, MAX_NAMESPACE, "namespace", allowed)


def validate_cluster(cluster: str) -> str:
    allowed = "letters, digits, '.', '_', ':' and '-'"
    return _name(cluster, _CLUSTER, MAX_CLUSTER, "cluster", allowed)


def validate_pod_prefix(pod: str) -> str:
    return _name(pod, _PREFIX, MAX_POD_NAME, "pod", "lower-case letters, digits, '-' and '.'")


def parse_target(text: str, namespace: str | None = None, cluster: str | None = None) -> Target:
    """`POD`, `NAMESPACE/POD` or `POD` with a separate `-n NAMESPACE`; `cluster` narrows it."""
    cleaned = text.strip()
    if not cleaned:
        raise InputError("name a pod: POD, NAMESPACE/POD, or POD -n NAMESPACE")
    if "/" in cleaned:
        inline_namespace, _, pod = cleaned.partition("/")
        if namespace is not None and namespace != inline_namespace:
            raise InputError(
                f"{_show(cleaned)} names namespace {inline_namespace!r} but -n says "
                f"{namespace!r}: give one"
            )
        namespace = inline_namespace
    else:
        pod = cleaned
    if namespace is not None:
        validate_namespace(namespace)
    if cluster is not None:
        validate_cluster(cluster)
    return Target(pod=validate_pod_prefix(pod), namespace=namespace, cluster=cluster)


class ResolutionError(InputError):
    """The target matched no pod, or several. `candidates` lets a UI offer choices."""

    def __init__(self, message: str, candidates: list[PodName]) -> None:
        super().__init__(message)
        self.candidates = candidates


def resolve(target: Target, lookup: Callable[[Scope], list[PodName]]) -> list[PodName]:
    """The pods a target means. Exact names win over prefixes; ambiguity is never guessed.

    The same namespace/pod in several clusters is one answer (shown as several rows); the same
    pod name in several namespaces, or a prefix matching several pods, is an error that names
    them all.
    """

    def in_cluster(found: list[PodName]) -> list[PodName]:
        return [p for p in found if target.cluster in (None, p.cluster)]

    matches = in_cluster(lookup(Scope(namespace=target.namespace, pod_prefix=target.pod)))
    exact = [name for name in matches if name.pod == target.pod]
    chosen = exact or matches
    if not chosen:
        near = _closest(target, lambda scope: in_cluster(lookup(scope)))
        hint = f" Closest: {', '.join(str(n) for n in near)}." if near else ""
        where = f" in namespace {target.namespace}" if target.namespace else ""
        where += f" of cluster {target.cluster}" if target.cluster else ""
        raise ResolutionError(f"no pod named or starting with {target.pod!r}{where}.{hint}", near)
    distinct = sorted({(name.namespace, name.pod) for name in chosen})
    if len(distinct) > 1:
        listed = ", ".join(f"{ns}/{pod}" for ns, pod in distinct[:10])
        more = f" and {len(distinct) - 10} more" if len(distinct) > 10 else ""
        raise ResolutionError(
            f"{str(target)!r} matches {len(distinct)} pods: {listed}{more}. "
            "Say which with NAMESPACE/POD or a longer name.",
            chosen,
        )
    return chosen


def _closest(target: Target, lookup: Callable[[Scope], list[PodName]]) -> list[PodName]:
    """Pods whose names look like what was typed, for a helpful 'not found'. Only pods that
    share its first half, then its first three characters, are asked for: a cluster of
    100 000 pods is never listed to suggest a name (a typo in the first letters finds none)."""
    known: list[PodName] = []
    for length in dict.fromkeys((max(3, len(target.pod) // 2), 3)):
        if len(target.pod) >= length:
            known = lookup(Scope(namespace=target.namespace, pod_prefix=target.pod[:length]))
            if known:
                break
    by_name: dict[str, list[PodName]] = {}
    for name in known:
        by_name.setdefault(name.pod, []).append(name)
    close = difflib.get_close_matches(target.pod, list(by_name), n=5, cutoff=0.5)
    return [pod for name in close for pod in by_name[name]][:5]
