"""Reaching the Kubernetes API: in-cluster config, then kubeconfig, or not at all."""

from __future__ import annotations

import logging

from kubernetes import client, config

from bot.settings import Settings

log = logging.getLogger(__name__)


def api_client(settings: Settings) -> client.ApiClient | None:
    if settings.kubernetes == "off":
        return None
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as error:
            log.info("no Kubernetes API access (%s): Prometheus-only mode", error)
            return None
    return client.ApiClient(configuration)
