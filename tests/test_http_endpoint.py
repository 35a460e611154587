"""The Slack endpoint answers every request with a status: nothing crashes it, nothing makes
it read an unbounded body, nothing holds its threads forever."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.health import IDLE_TIMEOUT_SECONDS
from tests.http_bot import Bot
from tests.slack_requests import SECRET, slash_form


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
    """A fresh timestamp: one taken at import is stale (over 5 min) late in a long suite run."""
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
