"""Opening the configured state store."""

from __future__ import annotations

from bot.kube_client import api_client
from bot.settings import Settings
from bot.state.document import StateError
from bot.state.kubernetes import ConfigMapStore
from bot.state.sqlite import SqliteStore
from bot.state.store import StateStore


def open_store(settings: Settings) -> StateStore:
    if settings.state_backend == "sqlite":
        return SqliteStore(settings.state_path)
    found = api_client(settings)
    if found is None:
        raise StateError(
            "state_backend=kubernetes needs the Kubernetes API (in-cluster or kubeconfig)"
        )
    return ConfigMapStore(
        found,
        namespace=settings.pod_namespace,
        name=settings.state_configmap,
        timeout=settings.kubernetes_timeout_seconds,
    )
