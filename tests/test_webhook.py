"""A route's notices also go, signed, to a webhook: a second destination through the same
outbox (order, retries, dead letters), with no change to what the lifecycle decides."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.check import CheckResult
from bot.delivery.outbox import drain
from bot.delivery.senders import build_sender
from bot.lifecycle import apply_check, apply_failure
from bot.model import ContainerRef
from bot.settings import ConfigError, Settings, load_settings
from bot.state.memory import MemoryStore
from bot.state.store import transact
from tests.flat_checks import flat_check
from tests.slack_standin import SlackStandIn

MIB = 2**20
SECRET = "hook-secret"
T0 = 1_800_000_000.0
REF = ContainerRef("", "payments", "ledger-6c9f-a1", "app")


@dataclass
class Receiver:
    """A webhook endpoint: records what arrives, answers with the status it is told to."""

    status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/podmem"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.server.shutdown()


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def settings_for(slack: SlackStandIn, receiver: Receiver) -> Settings:
    return load_settings(
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
        slack_bot_token="xoxb-test",
        slack_channel_interval_seconds=0,
        webhook_secret=SECRET,
        routes=[
            {"channel": "#payments", "namespaces": ["payments"], "webhook_url": receiver.url},
        ],
    )


def check(ws: float, at: float, settings: Settings, ref: ContainerRef = REF) -> CheckResult:
    return flat_check(ref, ws, at, settings)


def test_a_route_with_a_webhook_receives_signed_json_notices(
    slack: SlackStandIn, receiver: Receiver
) -> None:
    settings = settings_for(slack, receiver)
    store = MemoryStore()
    other = ContainerRef("", "shop", "api-1", "app")  # routed to the default channel only
    for ws, at in ((215, T0), (245, T0 + 60)):
        transact(
            store, partial(apply_check, result=check(ws, at, settings), at=at, settings=settings)
        )
        transact(
            store,
            partial(apply_check, result=check(ws, at, settings, other), at=at, settings=settings),
        )
    report = drain(store, build_sender(settings, charts=None))
    assert report.pending == 0

    notices = receiver.notices()
    assert [n["kind"] for n in notices] == ["alert_fired", "alert_escalated"]
    fired = notices[0]
    assert fired["thread"] == "memory//payments/ledger-6c9f-a1/app"
    container = fired["notice"]["seen"]
    assert (container["namespace"], container["pod"], container["verdict"]) == (
        "payments",
        "ledger-6c9f-a1",
        "warning",
    )
    assert container["working_set_bytes"] == 215 * MIB and "of the" in container["reason"]
    assert notices[1]["notice"]["seen"]["verdict"] == "critical"
    for headers, body in receiver.received:
        stamp = headers["X-Podmem-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"v1:{stamp}:".encode() + body, hashlib.sha256)
        assert headers["X-Podmem-Signature"] == "v1=" + expected.hexdigest()
        assert headers["X-Podmem-Notice"] == json.loads(body)["id"]
    # Slack got the same story, in the route's channel and the default one.
    posts = [
        c.args["channel"] for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args
    ]
    assert sorted(posts) == ["#alerts", "#payments"]


def test_a_failing_webhook_waits_its_turn_and_a_refusing_one_is_a_dead_letter(
    slack: SlackStandIn, receiver: Receiver
) -> None:
    settings = settings_for(slack, receiver)
    store = MemoryStore()
    transact(store, partial(apply_check, result=check(215, T0, settings), at=T0, settings=settings))
    sender = build_sender(settings, charts=None)
    receiver.status = 503
    report = drain(store, sender)
    assert report.pending == 1 and "HTTP 503" in (report.error or "")  # Slack went first
    receiver.status = 200
    assert drain(store, sender).pending == 0
    assert [n["kind"] for n in receiver.notices()] == ["alert_fired", "alert_fired"]  # retried

    receiver.status = 410  # the endpoint is gone: no retry will help
    transact(
        store,
        partial(apply_failure, error="cannot reach Prometheus", at=T0 + 60, settings=settings),
    )
    report = drain(store, sender)
    state, _ = store.read()
    assert report.dead == 1 and not state.outbox
    assert state.dead_letters[-1].target == "webhook"
    assert state.dead_letters[-1].last_error == "webhook answered HTTP 410"


def test_a_webhook_without_a_secret_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(routes=[{"channel": "#p", "webhook_url": "https://pager.example/hook"}])
    assert "webhook_secret" in str(refused.value) and "routes[0]" in str(refused.value)
    with pytest.raises(ConfigError) as bad:
        load_settings(webhook_secret="s", routes=[{"channel": "#p", "webhook_url": "pager"}])
    assert "http:// or https://" in str(bad.value)
