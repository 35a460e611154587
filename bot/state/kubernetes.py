"""Kubernetes state store: the document in a ConfigMap, written under resourceVersion.

For replicas > 1: whichever replica leads reads what the last leader wrote, so a failover
neither forgets a firing alert nor posts a kill twice.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.errors import StateError
from bot.state.document import Conflict, Damaged, State, dump_state, load_state
from bot.state.store import LastWritten

KEY = "state.json"
NOT_FOUND, CONFLICT = 404, 409


class ConfigMapStore:
    def __init__(
        self, api_client: client.ApiClient, *, namespace: str, name: str, timeout: float
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.name, self.timeout = namespace, name, timeout
        self._written = LastWritten()

    def read(self) -> tuple[State, str]:
        try:
            found: Any = self.core.read_namespaced_config_map(
                self.name, self.namespace, _request_timeout=self.timeout
            )
        except ApiException as error:
            if error.status == NOT_FOUND:
                return State(), ""
            raise self._error("read", error) from None
        version = found.metadata.resource_version
        if (written := self._written.take(version)) is not None:
            return written, version
        try:
            return load_state((found.data or {}).get(KEY)), version
        except Damaged as error:
            where = f"ConfigMap {self.namespace}/{self.name}"
            raise StateError(
                f"state {where} is damaged ({error}). podmem will not start empty over it: "
                f"that would post every open alert again. Save it (kubectl get configmap -o "
                f"yaml) and delete it to start fresh"
            ) from None

    def write(self, state: State, version: str) -> str:
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                resource_version=version or None,
                labels={"app.kubernetes.io/name": "podmem"},
            ),
            data={KEY: dump_state(state)},
        )
        try:
            if not version:
                written: Any = self.core.create_namespaced_config_map(
                    self.namespace, body, _request_timeout=self.timeout
                )
            else:
                written = self.core.replace_namespaced_config_map(
                    self.name, self.namespace, body, _request_timeout=self.timeout
                )
        except ApiException as error:
            if error.status == CONFLICT:  # stale resourceVersion, or created meanwhile
                raise Conflict("state ConfigMap changed since it was read") from None
            raise self._error("write", error) from None
        self._written.keep(str(written.metadata.resource_version), state)
        return str(written.metadata.resource_version)

    def _error(self, verb: str, error: ApiException) -> StateError:
        return StateError(
            f"cannot {verb} ConfigMap {self.namespace}/{self.name} ({error.status} "
            f"{error.reason}): podmem needs get/create/update on configmaps in its namespace"
        )
