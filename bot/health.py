"""The bot's HTTP ports: /healthz, /readyz, /metrics and, in HTTP mode, Slack's /slack/events,
on one port or (metrics_port) on two, so the port exposed to Slack serves Slack alone."""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.metrics import Metrics
from bot.settings import Settings

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"  # Bolt's default path
MAX_BODY = 1 << 20  # Slack payloads are a few KiB; refuse anything absurd
# A client that sends nothing for this long has its connection closed: slow clients must not
# hold the threads that answer Slack within its 3 s.
IDLE_TIMEOUT_SECONDS = 10
# Slack's timestamp is Unix seconds: digits, a handful of them. Anything else cannot be
# verified, so it is refused before Bolt's verifier (which raised on it: HTTP 500).
_TIMESTAMP = re.compile(r"\d{1,12}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # 200 requests at once overflowed a 128 backlog: dropped SYNs come back after 1 s.
    request_queue_size = 1024

    def get_request(self) -> tuple[socket.socket, object]:
        conn, address = super().get_request()
        # Without it, small responses wait ~40 ms for Nagle: a visible share of Slack's 3 s.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


def serve_http(
    port: int,
    metrics: Metrics,
    ready: Callable[[], bool],
    *,
    slack: App | None = None,
    signing_secret: str | None = None,
    probes: bool = True,
    host: str = "0.0.0.0",  # noqa: S104 -- probes and Slack reach the pod's IP
) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; the caller shuts it down. `probes`: serve
    /healthz, /readyz and /metrics here too. With `signing_secret`, a signed slash command or
    click is acknowledged as soon as it is verified, and Bolt sees it after."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    dispatcher = _Dispatcher(slack) if slack is not None and verifier is not None else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_SECONDS

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if not probes:
                self._answer(404, b"not found\n", "text/plain")
            elif path == "/healthz":
                self._answer(200, b"ok\n", "text/plain")
            elif path == "/readyz":
                is_ready = ready()
                self._answer(
                    200 if is_ready else 503,
                    b"ready\n" if is_ready else b"not ready\n",
                    "text/plain",
                )
            elif path == "/metrics":
                self._answer(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            else:
                self._answer(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            if slack is None or parts.path != SLACK_PATH:
                self._answer(404, b"not found\n", "text/plain")
                return
            declared = (self.headers.get("Content-Length") or "0").strip()
            if not declared.isdigit():  # negative, fractional, words: never read on them
                self.close_connection = True
                self._answer(400, b"bad Content-Length\n", "text/plain")
                return
            if int(declared) > MAX_BODY:
                self.close_connection = True
                self._answer(413, b"too large\n", "text/plain")
                return
            stamp = self.headers.get("X-Slack-Request-Timestamp") or ""
            if not _TIMESTAMP.fullmatch(stamp) or not self.headers.get("X-Slack-Signature"):
                self.close_connection = True  # its body is never read
                self._answer(401, b"unverifiable signature\n", "text/plain")
                return
            body = self.rfile.read(int(declared)).decode("utf-8", errors="replace")
            grouped: dict[str, list[str]] = {}
            for key, value in self.headers.items():
                grouped.setdefault(key.lower(), []).append(value)
            headers: dict[str, str | Sequence[str]] = dict(grouped)
            if verifier is not None and dispatcher is not None and _acked_first(body):
                signature = self.headers.get("X-Slack-Signature") or ""
                if verifier.is_valid(body=body, timestamp=stamp, signature=signature):
                    try:
                        self._answer(200, b"", "text/plain")
                    finally:  # a client gone before its ack still gets its answer
                        dispatcher.put(BoltRequest(body=body, query=parts.query, headers=headers))
                    return
            try:
                request = BoltRequest(body=body, query=parts.query, headers=headers)
                response = slack.dispatch(request)
            except (ValueError, KeyError, TypeError, AttributeError):
                # A payload that is not the JSON object Slack sends: an answer, not a drop.
                self._answer(400, b"malformed payload\n", "text/plain")
                return
            payload = (response.body or "").encode("utf-8")
            self.send_response(response.status)
            for key, values in response.headers.items():
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the log

    server = _Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def _acked_first(body: str) -> bool:
    """Slash commands and clicks: Slack wants an empty 200 and nothing Bolt computes. Other
    requests (URL verification, option loads) carry an answer only Bolt can give."""
    form = parse_qs(body)
    if "command" in form:
        return True
    try:
        payload = json.loads(form["payload"][0])
    except (KeyError, IndexError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("type") == "block_actions"


class _Dispatcher:
    """Bolt's dispatch of the requests acknowledged first, one at a time on one thread.

    Under 200 requests at once, every ack that waited for Bolt's dispatch (its middleware, a
    deep copy per lazy listener: a few ms of the GIL each) waited for all the others' too:
    p99 over 1 s. Acked first, each waits for only its own reading and verifying."""

    def __init__(self, slack: App) -> None:
        self.slack = slack
        self.queue: queue.SimpleQueue[BoltRequest] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="slack-dispatch", daemon=True).start()

    def put(self, request: BoltRequest) -> None:
        self.queue.put(request)

    def _run(self) -> None:
        while True:
            request = self.queue.get()
            try:
                response = self.slack.dispatch(request)
            except Exception as error:  # a payload Slack would not send: said, never raised
                log.warning("a signed Slack request could not be handled: %r", error)
                continue
            if response.status >= 400:
                log.warning("a signed Slack request was answered %d by Bolt", response.status)


def serve_ports(
    settings: Settings,
    metrics: Metrics,
    ready: Callable[[], bool],
    *,
    slack: App | None,
    host: str = "0.0.0.0",  # noqa: S104 -- probes and Slack reach the pod's IP
) -> list[ThreadingHTTPServer]:
    """The servers `settings` ask for: one port for all (metrics_port unset or equal to
    http_port), or Slack's on http_port and the probes and metrics on metrics_port."""
    apart = settings.metrics_port not in (None, settings.http_port)
    servers = []
    if settings.http_port and (slack is not None or not apart):
        secret = settings.slack_signing_secret
        servers.append(
            serve_http(
                settings.http_port,
                metrics,
                ready,
                slack=slack,
                signing_secret=secret.get_secret_value() if secret else None,
                probes=not apart,
                host=host,
            )
        )
    if apart and settings.metrics_port:
        servers.append(serve_http(settings.metrics_port, metrics, ready, host=host))
    return servers
