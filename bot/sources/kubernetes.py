"""The Kubernetes source: exact termination facts and owners for the pods that matter.

Prometheus answers the cluster-wide question ("who restarted?") in one query; this source is
asked only about those pods, plus one paged list of Failed pods (restartPolicy: Never pods
die without restarting, so no restart counter reveals them). It never lists every pod.
Every call has a timeout; 403 turns the source off with one log line (Prometheus-only mode).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from bot.kube_client import api_client
from bot.model import ContainerRef
from bot.oom import TerminationFacts
from bot.settings import Settings
from bot.workloads import workload_label

log = logging.getLogger(__name__)
PAGE_SIZE = 500
KNOWN_PODS_KEPT = 10_000
GONE, FORBIDDEN, NOT_FOUND = 410, 403, 404


def connect(settings: Settings) -> KubernetesSource | None:
    """The source, or None (Prometheus-only) when the API is off or unreachable."""
    found = api_client(settings)
    return None if found is None else KubernetesSource(settings, found)


class KubernetesSource:
    def __init__(self, settings: Settings, api_client: client.ApiClient) -> None:
        self.settings = settings
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.timeout = settings.kubernetes_timeout_seconds
        self.enabled = True
        self.calls = 0
        self._owners: dict[tuple[str, str, str], tuple[str, str] | None] = {}
        self._known: dict[tuple[str, str], tuple[int, list[TerminationFacts]]] = {}

    def terminations(
        self,
        pods: Iterable[tuple[str, str]],
        *,
        failed_pods: bool = True,
        restarts: Mapping[tuple[str, str], int] | None = None,
    ) -> list[TerminationFacts]:
        """Termination facts of the named pods and, for a check, of every Failed pod.

        With `restarts` (each pod's restart total as Prometheus sees it), a pod read before at
        the same total is not read again: a crash-looping pod costs one read per restart, not
        one per cycle.
        """
        facts: list[TerminationFacts] = []
        read: set[tuple[str, str]] = set()
        for pod in self._failed_pods() if failed_pods else []:
            read.add((pod.metadata.namespace, pod.metadata.name))
            facts.extend(self._facts(pod))
        for namespace, name in pods:
            key = (namespace, name)
            if key in read or not self.enabled:
                continue
            total = restarts.get(key) if restarts is not None else None
            cached = self._known.get(key)
            if total is not None and cached is not None and cached[0] == total:
                facts.extend(cached[1])
                continue
            pod = self._call(
                self.core.read_namespaced_pod, name, namespace, _request_timeout=self.timeout
            )
            if pod is not None:
                pod_facts = self._facts(pod)
                facts.extend(pod_facts)
                if total is not None:
                    self._known[key] = (total, pod_facts)
        if len(self._known) > KNOWN_PODS_KEPT:
            self._known.clear()  # a bound, not an LRU: a refill costs one read per pod
        return facts

    def _failed_pods(self) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        restarted = False
        while self.enabled:
            try:
                self.calls += 1
                page = self.core.list_pod_for_all_namespaces(
                    field_selector="status.phase=Failed",
                    limit=PAGE_SIZE,
                    _continue=token,
                    _request_timeout=self.timeout,
                )
            except ApiException as error:
                if error.status == GONE and not restarted:
                    # The continue token expired mid-list: start over once, consistently.
                    log.info("pod list continue token expired (410); listing again")
                    items, token, restarted = [], None, True
                    continue
                self._failed(error)
                return items
            except (HTTPError, OSError) as error:
                log.warning("Kubernetes API unreachable (%s); using Prometheus only", error)
                return items
            items.extend(page.items or [])
            token = page.metadata._continue if page.metadata else None
            if not token:
                break
        return items

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return None
        self.calls += 1
        try:
            return method(*args, **kwargs)
        except ApiException as error:
            if error.status != NOT_FOUND:
                self._failed(error)
            return None
        except (HTTPError, OSError) as error:
            log.warning("Kubernetes API unreachable (%s); using Prometheus only", error)
            return None

    def _failed(self, error: ApiException) -> None:
        if error.status == FORBIDDEN:
            self.enabled = False
            log.warning(
                "Kubernetes API refused access (403, RBAC): continuing in Prometheus-only "
                "mode. Grant get/list on pods, replicasets and jobs to use the API."
            )
        else:
            log.warning("Kubernetes API error %s %s", error.status, error.reason)

    def _facts(self, pod: Any) -> list[TerminationFacts]:
        meta, status = pod.metadata, pod.status
        workload = self.workload(meta.namespace, meta.owner_references or [])
        facts = []
        for cs in (status.container_statuses or []) if status else []:
            ref = ContainerRef(self.settings.kubernetes_cluster, meta.namespace, meta.name, cs.name)
            last = cs.last_state.terminated if cs.last_state else None
            now = cs.state.terminated if cs.state else None
            # lastState belongs to the previous container: restartCount - 1 when it died.
            for term, count in ((last, cs.restart_count - 1), (now, cs.restart_count)):
                if term is not None and count >= 0:
                    facts.append(
                        TerminationFacts(
                            ref=ref,
                            restart_count=count,
                            reason=term.reason or "",
                            exit_code=term.exit_code,
                            started_at=_aware(term.started_at),
                            finished_at=_aware(term.finished_at),
                            workload=workload,
                        )
                    )
        return facts

    def workload(self, namespace: str, owners: list[Any]) -> str | None:
        controller = next((o for o in owners if o.controller), owners[0] if owners else None)
        if controller is None:
            return None
        kind, name = controller.kind, controller.name
        readers = {
            "ReplicaSet": self.apps.read_namespaced_replica_set,
            "Job": self.batch.read_namespaced_job,
        }
        if kind in readers:
            key = (namespace, kind, name)
            if key not in self._owners:
                parent = self._call(readers[kind], name, namespace, _request_timeout=self.timeout)
                refs = (parent.metadata.owner_references or []) if parent else []
                up = next((o for o in refs if o.controller), None)
                self._owners[key] = (up.kind, up.name) if up else None
            if self._owners[key] is not None:
                kind, name = self._owners[key]  # type: ignore[misc]
        return workload_label(kind, name)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
