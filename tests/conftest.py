from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.scenarios import ClusterSpec
from tests.prometheus_harness import PrometheusServer

PrometheusFactory = Callable[[ClusterSpec], PrometheusServer]
# The `bot` fixture: podmem's Slack endpoint in HTTP mode (tests/http_bot.py).
pytest_plugins = ["tests.http_bot"]


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
    import sys
    import threading

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {
        name: logging.getLogger(name).level for name in ("apscheduler", "leaderelection", "urllib3")
    }
    hooks = sys.excepthook, threading.excepthook  # log_format json logs crashes
    yield
    root.handlers[:], root.level = handlers, level
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)
    for name, value in chatty.items():
        logging.getLogger(name).setLevel(value)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """In CI (`PODMEM_CI=1`, set by .ci/run) a skipped test is a failed one: .ci/run installs
    everything the tests need, so a skip there means a tool went missing, not a choice."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("PODMEM_CI") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run everything: {reason}"
