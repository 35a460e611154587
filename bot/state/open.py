"""Opening the configured state store."""

from __future__ import annotations

from bot.errors import StateError
from bot.kube_client import api_client
from bot.settings import Settings
from bot.state.kubernetes import ConfigMapStore
from bot.state.sqlite import SqliteStore
from bot.state.store import StateStore


def describe_store(settings: Settings) -> str:
    """Where the state lives, as a user would look for it."""
    if settings.state_backend == "sqlite":
        return f"state file {settings.state_path.resolve()}"
    return f"ConfigMap {settings.pod_namespace}/{settings.state_configmap}"


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
