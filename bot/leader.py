"""Leader election on a coordination.k8s.io Lease, with the kubernetes client's own package."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from bot.settings import Settings

log = logging.getLogger(__name__)


def identity(settings: Settings) -> str:
    return settings.pod_name or f"{socket.gethostname()}-{os.getpid()}"


def start_election(
    settings: Settings,
    api_client: client.ApiClient,
    *,
    on_started: Callable[[], None],
    on_stopped: Callable[[], None],
    stop: threading.Event,
) -> threading.Thread:
    """Campaign in a daemon thread until `stop`; callbacks fire on gaining and losing the lease."""
    lock = LeaseLock(settings.lease_name, settings.pod_namespace, identity(settings))
    # LeaseLock builds its API object from the global default configuration; give it ours.
    lock.api_instance = client.CoordinationV1Api(api_client)
    config = electionconfig.Config(
        lock,
        lease_duration=settings.lease_duration_seconds,
        renew_deadline=settings.lease_renew_deadline_seconds,
        retry_period=settings.lease_retry_period_seconds,
        onstarted_leading=on_started,
        onstopped_leading=on_stopped,
    )

    def campaign() -> None:
        while not stop.is_set():
            try:
                # Returns when the lease is lost; then we are a candidate again.
                leaderelection.LeaderElection(config).run()
            except Exception:
                log.exception("leader election failed; retrying")
                on_stopped()
            stop.wait(settings.lease_retry_period_seconds)

    thread = threading.Thread(target=campaign, name="leader-election", daemon=True)
    thread.start()
    return thread
