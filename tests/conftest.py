from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.scenarios import ClusterSpec
from tests.prometheus_harness import PrometheusServer

PrometheusFactory = Callable[[ClusterSpec], PrometheusServer]


@pytest.fixture(scope="session")
def prometheus_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusFactory]:
    """Starts (once per distinct cluster) a real Prometheus holding that cluster's data."""
    servers: dict[int, PrometheusServer] = {}
    keep: list[ClusterSpec] = []

    def start(cluster: ClusterSpec) -> PrometheusServer:
        key = id(cluster)
        if key not in servers:
            keep.append(cluster)  # ids stay unique while the spec is alive
            servers[key] = PrometheusServer(cluster, Path(tmp_path_factory.mktemp("prometheus")))
        return servers[key]

    yield start
    for server in servers.values():
        server.stop()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands under test call setup_logging(), which rebinds the root logger to the test's
    captured stderr; put it back so later tests do not log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in ("apscheduler", "leaderelection")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, value in chatty.items():
        logging.getLogger(name).setLevel(value)
