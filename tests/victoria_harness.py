"""A real VictoriaMetrics (Debian's `victoria-metrics`) holding the same generated data as
tests/prometheus_harness.py, imported over HTTP: a second PromQL engine to compare answers.

The generator writes OpenMetrics (timestamps in seconds); /api/v1/import/prometheus reads
Prometheus's text format, whose timestamps are milliseconds, so each sample's timestamp is
rewritten on the way in. The data is months old: -retentionPeriod=100y keeps it (the default,
one month, drops it on import). -search.latencyOffset=0 and -search.disableCache answer from
the imported samples at once; /internal/force_flush makes them searchable before the first
query.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.scenarios import ClusterSpec, write_openmetrics
from tests.prometheus_harness import free_port, wait_ready

REQUIRED = os.environ.get("PODMEM_REQUIRE_PROMETHEUS") == "1"


def require_binary() -> str:
    binary = shutil.which("victoria-metrics")
    if binary:
        return binary
    reason = (
        "VICTORIAMETRICS TESTS NOT RUN: `victoria-metrics` is not on PATH. "
        "Install it with `apt-get install victoria-metrics` (see .ci/run)."
    )
    if REQUIRED:
        pytest.fail(reason + " PODMEM_REQUIRE_PROMETHEUS=1 forbids skipping.")
    pytest.skip(reason)


def prometheus_text(openmetrics: Path, chunk_lines: int = 20000) -> Iterator[bytes]:
    """The OpenMetrics file as Prometheus text: millisecond timestamps, no `# EOF`."""
    lines: list[str] = []
    with openmetrics.open(encoding="utf-8") as source:
        for line in source:
            if line.startswith("#"):
                continue
            sample, stamp = line.rstrip("\n").rsplit(" ", 1)
            lines.append(f"{sample} {round(float(stamp) * 1000)}\n")
            if len(lines) >= chunk_lines:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()


class VictoriaMetricsServer:
    """`spec` generated to `workdir/data.om` (or `openmetrics`, already written), imported."""

    def __init__(
        self, spec: ClusterSpec | None, workdir: Path, *, openmetrics: Path | None = None
    ) -> None:
        binary = require_binary()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        if openmetrics is None:
            assert spec is not None
            openmetrics = workdir / "data.om"
            with openmetrics.open("w", encoding="utf-8") as out:
                write_openmetrics(spec, out)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / "victoria-metrics.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"-storageDataPath={workdir / 'vm-data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
                # podmem bundles up to 400 pods in one query: tens of KiB (VM default: 16 KiB).
                "-search.maxQueryLen=1MB",
                "-loggerLevel=WARN",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(self.process, f"{self.url}/health", workdir / "victoria-metrics.log")
            started = time.monotonic()
            requests.post(
                f"{self.url}/api/v1/import/prometheus",
                data=prometheus_text(openmetrics),
                timeout=3600,
            ).raise_for_status()
            requests.get(f"{self.url}/internal/force_flush", timeout=600).raise_for_status()
            self.import_s = time.monotonic() - started
        except BaseException:
            self.stop()
            raise

    def settle(self, quiet_seconds: int = 5, at_most_seconds: float = 300.0) -> float:
        """Wait until VictoriaMetrics's background merges of the import are over (no merge
        active, none begun for `quiet_seconds`); the seconds waited. Timed work started at
        once shares the cores with them: the first cycles would pay for the import, and the
        floor, replayed later, would not."""
        started = time.monotonic()
        quiet, last = 0, -1.0
        while quiet < quiet_seconds and time.monotonic() - started < at_most_seconds:
            active, begun = 0.0, 0.0
            for line in requests.get(f"{self.url}/metrics", timeout=30).text.splitlines():
                if line.startswith("vm_active_merges{"):
                    active += float(line.rsplit(" ", 1)[1])
                elif line.startswith("vm_merges_total{"):
                    begun += float(line.rsplit(" ", 1)[1])
            quiet = quiet + 1 if active == 0 and begun == last else 0
            last = begun
            time.sleep(1)
        return time.monotonic() - started

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
