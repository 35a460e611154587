"""The Slack endpoint answers every request with a status: nothing crashes it, nothing makes
it read an unbounded body, nothing holds its threads forever."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from slack_bolt import App
from slack_sdk.signature import SignatureVerifier

from bot.health import IDLE_TIMEOUT_SECONDS
from tests.http_bot import Bot
from tests.slack_requests import SECRET, slash_form
from tests.slack_standin import SlackStandIn


def raw(bot: Bot, head: str, body: bytes = b"") -> int:
    """Send bytes as they are (no client library to tidy them) and read the status code."""
    netloc = urlsplit(bot.url).netloc
    host, port = netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = conn.recv(4096).decode(errors="replace")
    return int(answer.split(" ")[1])


def request(stamp: str, body: bytes, *, length: str | None = None, sign: bool = True) -> str:
    signature = (
        SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body.decode())
        if sign
        else "v0=00"
    )
    return (
        "POST /slack/events HTTP/1.1\n"
        "Host: podmem\n"
        "Content-Type: application/x-www-form-urlencoded\n"
        f"Content-Length: {len(body) if length is None else length}\n"
        f"X-Slack-Request-Timestamp: {stamp}\n"
        f"X-Slack-Signature: {signature}\n"
    )


def now() -> str:
    """A fresh request timestamp: one taken when the module loaded is stale (Slack's 5-minute
    window) by the time a long, loaded test run gets here."""
    return str(int(time.time()))


@pytest.mark.parametrize("stamp", ["abc", "1.5", "9" * 400, "-1", ""])
def test_an_unverifiable_timestamp_is_401(bot: Bot, stamp: str) -> None:
    body = b"command=%2Fpodmem&text=help"
    assert raw(bot, request(stamp, body, sign=False), body) == 401


@pytest.mark.parametrize(
    ("length", "status"), [("-1", 400), ("abc", 400), ("1.5", 400), (str(10**9), 413)]
)
def test_a_bad_content_length_is_refused_without_reading(
    bot: Bot, length: str, status: int
) -> None:
    # Nothing follows the headers: a server that tried to read the body would hang, not answer.
    assert raw(bot, request(now(), b"", length=length)) == status


@pytest.mark.parametrize(
    "payload", ["not json", "[]", '{"type": "block_actions"}', '{"type": 7, "actions": "x"}']
)
def test_a_signed_but_malformed_payload_gets_an_answer(bot: Bot, payload: str) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": payload}).encode()
    assert raw(bot, request(now(), body), body) < 500  # an answer (bolt: 404 unhandled), no drop


def test_a_slow_client_is_let_go(bot: Bot) -> None:
    """A client that opens a connection and says nothing is closed after the idle timeout."""
    netloc = urlsplit(bot.url).netloc
    host, port = netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=IDLE_TIMEOUT_SECONDS * 6) as conn:
        assert conn.recv(1) == b""  # the server hung up: EOF, not a read that never ends


def test_the_signed_command_still_works(bot: Bot) -> None:
    form = slash_form("help", bot.slack.response_url("h"))
    from urllib.parse import urlencode

    body = urlencode(form).encode()
    assert raw(bot, request(now(), body), body) == 200
    assert bot.answers("h")


def _ports(**overrides: object) -> tuple[dict[str, int], Callable[[], None]]:
    from bot.health import serve_ports
    from bot.metrics import Metrics
    from bot.settings import load_settings
    from tests.prometheus_harness import free_port

    ports = {"http_port": free_port(), **overrides}
    settings = load_settings(prometheus_url="http://127.0.0.1:9", **ports)
    app = App(signing_secret=SECRET, token="xoxb-test", token_verification_enabled=False)
    servers = serve_ports(settings, Metrics(), lambda: True, slack=app, host="127.0.0.1")

    def stop() -> None:
        for server in servers:
            server.shutdown()
            server.server_close()

    return {k: int(str(v)) for k, v in ports.items()}, stop


def _status(port: int, method: str, path: str) -> int:
    import requests

    return requests.request(method, f"http://127.0.0.1:{port}{path}", timeout=10).status_code


def test_metrics_and_probes_on_their_own_port() -> None:
    """With metrics_port, the port exposed to Slack serves /slack/events alone."""
    from tests.prometheus_harness import free_port

    ports, stop = _ports(metrics_port=free_port())
    try:
        slack, probes = ports["http_port"], ports["metrics_port"]
        for path in ("/metrics", "/healthz", "/readyz"):
            assert _status(slack, "GET", path) == 404
            assert _status(probes, "GET", path) == 200
        assert _status(slack, "POST", "/slack/events") == 401  # Slack's, unsigned
        assert _status(probes, "POST", "/slack/events") == 404
    finally:
        stop()


def test_by_default_one_port_serves_all() -> None:
    ports, stop = _ports()
    try:
        assert _status(ports["http_port"], "GET", "/metrics") == 200
        assert _status(ports["http_port"], "POST", "/slack/events") == 401
    finally:
        stop()


def test_a_verified_command_is_acked_before_bolt_sees_it() -> None:
    """Bolt's dispatch is held; the signed command is acknowledged anyway, and reaches its
    listener once Bolt goes on. A forged one is refused, never acked first."""
    import threading

    from bot.health import serve_http
    from bot.metrics import Metrics
    from tests.prometheus_harness import free_port
    from tests.slack_requests import signed_post

    gate, seen = threading.Event(), threading.Event()
    slack = SlackStandIn().start()  # Bolt's auth.test
    app = App(signing_secret=SECRET, client=slack.client(), token_verification_enabled=False)

    @app.use
    def held(next: Callable[[], None]) -> None:
        gate.wait(60)
        next()

    @app.command("/podmem")
    def command(ack: Callable[[], None]) -> None:
        ack()
        seen.set()

    port = free_port()
    server = serve_http(
        port, Metrics(), lambda: True, slack=app, signing_secret=SECRET, host="127.0.0.1"
    )
    try:
        events = f"http://127.0.0.1:{port}/slack/events"
        form = slash_form("help", "http://127.0.0.1:9/response")
        assert signed_post(events, form).status_code == 200
        assert not gate.is_set() and not seen.is_set()
        gate.set()
        assert seen.wait(30)
        assert signed_post(events, form, forge=True).status_code == 401
    finally:
        gate.set()
        server.shutdown()
        server.server_close()
        slack.stop()
