"""A real Prometheus holding generated data: backfill with promtool, serve on loopback.

Debian's `prometheus` package provides both binaries. Without them the tests that need them
skip loudly, unless PODMEM_REQUIRE_PROMETHEUS=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import pytest
import requests

from bot.scenarios import ClusterSpec, write_openmetrics

REQUIRED = os.environ.get("PODMEM_REQUIRE_PROMETHEUS") == "1"


def require_binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    reason = (
        "REAL-PROMETHEUS TESTS NOT RUN: `prometheus`/`promtool` are not on PATH. "
        "Install them with `apt-get install prometheus` (see .ci/run)."
    )
    if REQUIRED:
        pytest.fail(reason + " PODMEM_REQUIRE_PROMETHEUS=1 forbids skipping.")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, client: dict[str, Any] | None = None
) -> None:
    """Until `url` answers 200 (60 s at most); fails at once if the server exits."""
    name = Path(str(process.args[0])).name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {log}")
        try:
            if requests.get(url, timeout=1, **(client or {})).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not become ready within 60 s")


class PrometheusServer:
    """`data`: a generated cluster, or a function that writes OpenMetrics text (a replay).
    `web_config`: the text of a `--web.config.file` (TLS, client certificates, basic auth);
    `client`: what `requests` needs to pass it (verify=, cert=, auth=), for the ready check.
    `reuse`: serve the blocks a previous server left in `workdir` if there are any (the
    caller vouches they hold the same data), instead of generating and backfilling again."""

    def __init__(
        self,
        data: ClusterSpec | Callable[[TextIO], None],
        workdir: Path,
        *,
        web_config: str | None = None,
        client: dict[str, Any] | None = None,
        chunk_pods: int | None = None,
        reuse: bool = False,
    ) -> None:
        prometheus, promtool = require_binaries()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        text, tsdb = workdir / "data.om", workdir / "tsdb"
        # A cluster bigger than `chunk_pods` is backfilled a slice of pods at a time, each
        # slice's text deleted once it is blocks (100 000 containers are tens of GB of text);
        # the slices' blocks overlap in time and Prometheus merges them (vertical compaction).
        parts: list[ClusterSpec | Callable[[TextIO], None]] = [data]
        if isinstance(data, ClusterSpec) and chunk_pods and len(data.pods) > chunk_pods:
            parts = [
                replace(data, pods=data.pods[i : i + chunk_pods])
                for i in range(0, len(data.pods), chunk_pods)
            ]
        blocks = 0
        if reuse and tsdb.is_dir() and any((b / "meta.json").exists() for b in tsdb.iterdir()):
            parts = []  # merged when they were made: nothing to wait for either
        for part in parts:
            with text.open("w", encoding="utf-8") as out:
                if isinstance(part, ClusterSpec):
                    write_openmetrics(part, out)
                else:
                    part(out)
            subprocess.run(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", str(text), str(tsdb)],
                check=True,
                capture_output=True,
            )
            blocks = blocks or sum(1 for b in tsdb.iterdir() if (b / "meta.json").exists())
            if len(parts) > 1:
                text.unlink()
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n", encoding="utf-8")
        self.port = free_port()
        scheme = "https" if web_config and "tls_server_config" in web_config else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.client = client or {}
        self.log = (workdir / "prometheus.log").open("w")
        self.command = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            # Backfilled blocks are old; without a long retention they would be deleted.
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        if web_config is not None:
            (workdir / "web.yml").write_text(web_config, encoding="utf-8")
            self.command.append(f"--web.config.file={workdir / 'web.yml'}")
        self.start()
        if len(parts) > 1:
            self._wait_merged(blocks)

    def start(self) -> None:
        """Start (or restart, same port and data) the server and wait until it is ready."""
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        wait_ready(
            self.process, f"{self.url}/-/ready", self.workdir / "prometheus.log", self.client
        )

    def _wait_merged(self, blocks: int, timeout: float = 900) -> None:
        """Until the slices' overlapping blocks are compacted into `blocks` (one slice's
        count), so queries are timed on the layout a scraped Prometheus has."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = requests.get(f"{self.url}/metrics", timeout=10, **self.client).text
            loaded = next(
                float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("prometheus_tsdb_blocks_loaded ")
            )
            if loaded <= blocks:
                return
            time.sleep(5)
        raise RuntimeError(f"overlapping blocks not merged within {timeout:.0f} s")

    def query_requests_served(self) -> int:
        """Prometheus's own count of query API calls: an outside view of what the bot sent."""
        text = requests.get(f"{self.url}/metrics", timeout=5, **self.client).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and (
                'handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def halt(self) -> None:
        """Stop the server but keep its data, so `start()` can bring it back."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def stop(self) -> None:
        self.halt()
        self.log.close()
