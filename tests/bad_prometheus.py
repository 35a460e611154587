"""A PromQL endpoint that answers the way broken ones do, or passes through to a real one.

Mode "held" passes through once `gate` is set: what happens while a backend is slow, shown
without racing a clock (an answer that arrives with the gate closed did not wait for it).

Modes: "ok" (proxy), "html", "500", "truncated", "error200", "error422", "not-a-list",
"data-null", "metric-not-object", "short-value", "hang", "drip", "bad-retry-after",
"retry-after-20".
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests

ANSWERS: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "html": (200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
    "500": (500, b"internal error", {}),
    "truncated": (200, b'{"status":"success","data":{"resultType":"vector","resu', {}),
    "error200": (200, b'{"status":"error","errorType":"bad_data","error":"boom"}', {}),
    "error422": (422, b'{"status":"error","errorType":"execution","error":"boom"}', {}),
    "not-a-list": (200, b'{"status":"success","data":{"resultType":"vector","result":{}}}', {}),
    "data-null": (200, b'{"status":"success","data":null}', {}),
    "metric-not-object": (
        200,
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":"x","value":[1,"2"]}]}}',
        {},
    ),
    "short-value": (
        200,
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}',
        {},
    ),
    "absurd": (
        200,
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":'
        b'{"namespace":"default","pod":"leak-7d9f-x2","container":"app"},"value":[1,"1e30"]}]}}',
        {},
    ),
    "bad-retry-after": (503, b"busy", {"Retry-After": "soon-ish"}),
    "retry-after-20": (503, b"busy", {"Retry-After": "20"}),
}
MODES = [*ANSWERS, "hang"]


class BadPrometheus:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "ok"
        self.release = threading.Event()  # ends every hang
        self.gate = threading.Event()  # opens mode "held"
        self.requests = 0  # every request that arrived, answered or not
        self.paths: list[str] = []  # each request's path and query string, as sent
        bad = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bad.requests += 1
                bad.paths.append(self.path)
                mode = bad.mode
                if mode == "held":
                    bad.gate.wait(60)
                    mode = "ok"
                if mode == "ok":
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    answer = requests.request(
                        self.command,
                        bad.upstream + self.path,
                        data=body,
                        headers=headers,
                        timeout=300,  # a loaded machine: the proxy never gives up first
                    )
                    status, content = answer.status_code, answer.content
                    extra = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
                elif mode == "hang":
                    bad.release.wait(60)
                    return
                elif mode == "drip":  # answers, a byte at a time: no read ever times out
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000000")
                    self.end_headers()
                    try:
                        while not bad.release.wait(0.1):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                    except OSError:  # the client gave up: what it should do
                        pass
                    return
                else:
                    status, content, extra = ANSWERS[mode]
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **extra}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BadPrometheus:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
