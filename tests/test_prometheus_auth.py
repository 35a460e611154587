"""Auth and tenant headers reach the PromQL API as configured, on real HTTP."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.errors import SourceError
from bot.promql import CLUSTER_WIDE
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_bearer_token_and_tenant_header(
    recorder: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODMEM_PROMETHEUS_BEARER_TOKEN", "t0ken")
    monkeypatch.setenv("PODMEM_PROMETHEUS_HEADERS", '{"X-Scope-OrgID": "tenant-1"}')
    url = f"http://127.0.0.1:{recorder.server_address[1]}/prometheus"
    source = PrometheusSource(load_settings(prometheus_url=url))
    # An empty answer: no cAdvisor series at all is said, not taken for an empty cluster.
    with pytest.raises(SourceError, match="no cAdvisor working-set series"):
        source.snapshot(datetime(2026, 11, 1, tzinfo=UTC), CLUSTER_WIDE)
    seen = recorder.seen  # type: ignore[attr-defined]
    # Which clusters' kube-state-metrics export limits; then 12 figures one query each; the
    # sparse restart, OOM and annotation signals in one bundle.
    assert len(seen) == 14  # (a cluster-wide snapshot: the digest's)
    for path, headers in seen:
        assert path == "/prometheus/api/v1/query"  # the PromQL in the body
        assert headers["Authorization"] == "Bearer t0ken"
        assert headers["X-Scope-OrgID"] == "tenant-1"


def test_basic_auth(recorder: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODMEM_PROMETHEUS_USERNAME", "sre")
    monkeypatch.setenv("PODMEM_PROMETHEUS_PASSWORD", "pa55")
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    PrometheusSource(load_settings(prometheus_url=url)).pods(
        datetime(2026, 11, 1, tzinfo=UTC), CLUSTER_WIDE
    )
    (_, headers), *_ = recorder.seen  # type: ignore[attr-defined]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"sre:pa55").decode()


def test_credentials_in_the_url_become_basic_auth_and_leave_it(
    recorder: ThreadingHTTPServer,
) -> None:
    port = recorder.server_address[1]
    settings = load_settings(prometheus_url=f"http://sre:p%40ss@127.0.0.1:{port}/prom")
    assert settings.prometheus_url == f"http://127.0.0.1:{port}/prom"  # printed everywhere
    assert "p@ss" not in repr(settings) and "p%40ss" not in repr(settings)
    PrometheusSource(settings).pods(datetime(2026, 11, 1, tzinfo=UTC), CLUSTER_WIDE)
    (path, headers), *_ = recorder.seen  # type: ignore[attr-defined]
    assert path.startswith("/prom/api/v1/query")
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"sre:p@ss").decode()
