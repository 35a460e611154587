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
MAX_POD_NAME = 253
MAX_NAMESPACE = 63


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed request for a pod; `pod` may be a full name or a prefix of one."""

    pod: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.pod}" if self.namespace else self.pod


def _show(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def validate_namespace(namespace: str) -> str:
    if len(namespace) > MAX_NAMESPACE or not _LABEL.fullmatch(namespace):
        raise InputError(
            f"{_show(namespace)} is not a namespace name: lower-case letters, digits and '-', "
            f"at most {MAX_NAMESPACE} characters"
        )
    return namespace


def validate_pod_prefix(pod: str) -> str:
    if len(pod) > MAX_POD_NAME or not _PREFIX.fullmatch(pod):
        raise InputError(
            f"{_show(pod)} is not a pod name: lower-case letters, digits, '-' and '.', "
            f"at most {MAX_POD_NAME} characters"
        )
    return pod


def parse_target(text: str, namespace: str | None = None) -> Target:
    """`POD`, `NAMESPACE/POD` or `POD` with a separate `-n NAMESPACE`."""
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
    return Target(pod=validate_pod_prefix(pod), namespace=namespace)


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
    matches = lookup(Scope(namespace=target.namespace, pod_prefix=target.pod))
    exact = [name for name in matches if name.pod == target.pod]
    chosen = exact or matches
    if not chosen:
        near = _closest(target, lookup)
        hint = f" Closest: {', '.join(str(n) for n in near)}." if near else ""
        where = f" in namespace {target.namespace}" if target.namespace else ""
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
    """Pods whose names look like what was typed, for a helpful 'not found' (one query)."""
    known = lookup(Scope(namespace=target.namespace))
    by_name: dict[str, list[PodName]] = {}
    for name in known:
        by_name.setdefault(name.pod, []).append(name)
    close = difflib.get_close_matches(target.pod, list(by_name), n=5, cutoff=0.5)
    return [pod for name in close for pod in by_name[name]][:5]
