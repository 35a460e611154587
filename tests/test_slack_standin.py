"""The Slack stand-in, exercised only through the real, unpatched slack_sdk clients."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.slack_standin import BOT, SlackStandIn

FAST = FixedValueRetryIntervalCalculator(0.01)


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


def test_auth_test_ok_invalid_and_missing_token(slack: SlackStandIn) -> None:
    assert slack.api_url == slack.url + "/api/"
    auth = slack.client().auth_test()
    assert auth["ok"] and auth["user_id"] == BOT["user_id"] and auth["bot_id"] == BOT["bot_id"]
    with pytest.raises(SlackApiError) as bad:
        slack.client(token="xoxb-nope").auth_test()
    assert error_of(bad) == "invalid_auth" and bad.value.response.status_code == 200
    with pytest.raises(SlackApiError) as missing:
        slack.client(token=None).auth_test()
    assert error_of(missing) == "not_authed"
    assert [(c.token, c.error) for c in slack.calls_to("auth.test")] == [
        ("xoxb-test", None),
        ("xoxb-nope", "invalid_auth"),
        (None, "not_authed"),
    ]
    with pytest.raises(SlackApiError) as unknown:
        slack.client().api_call("pods.explode")
    assert error_of(unknown) == "unknown_method"


def test_post_update_and_thread_reply(slack: SlackStandIn) -> None:
    client = slack.client()
    parent = client.chat_postMessage(channel="#alerts", text="web is near its limit")
    cid, ts = parent["channel"], parent["ts"]
    assert cid == slack.channel_id("alerts") and re.fullmatch(r"C[0-9A-F]{10}", cid)
    assert re.fullmatch(r"\d{10}\.\d{6}", ts)
    reply = client.chat_postMessage(channel=cid, text="details", thread_ts=ts)
    assert float(reply["ts"]) > float(ts)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*OOM*"}}]
    updated = client.chat_update(channel="alerts", ts=ts, text="web was OOM-killed", blocks=blocks)
    assert updated["message"]["text"] == "web was OOM-killed"

    messages = slack.messages("#alerts")
    assert [m["ts"] for m in messages] == [ts, reply["ts"]]
    assert messages[0]["edits"] == 1 and messages[0]["blocks"] == blocks
    assert messages[0]["thread_ts"] == ts and messages[0]["reply_count"] == 1
    assert [m["text"] for m in slack.thread(cid, ts)] == ["details"]

    with pytest.raises(SlackApiError) as gone:
        client.chat_update(channel=cid, ts="1.000000", text="x")
    assert error_of(gone) == "message_not_found"
    eph = client.chat_postEphemeral(channel=cid, user="U123", text="only you")
    assert slack.ephemerals(cid)[0]["ts"] == eph["message_ts"]


def test_form_body_with_token_field_and_json_string_blocks(slack: SlackStandIn) -> None:
    blocks = [{"type": "divider"}]
    form = {"token": "xoxb-test", "channel": "alerts", "text": "t", "blocks": json.dumps(blocks)}
    request = urllib.request.Request(
        slack.api_url + "chat.postMessage", data=urlencode(form).encode()
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["ok"] is True
    (call,) = slack.calls
    assert call.token == "xoxb-test" and "token" not in call.args and call.args["blocks"] == blocks


def test_many_threads_get_unique_increasing_ts(slack: SlackStandIn) -> None:
    client, results = slack.client(), []

    def post(i: int) -> None:
        results.append(client.chat_postMessage(channel="load", text=str(i))["ts"])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [m["ts"] for m in slack.messages("load")]
    assert len(set(results)) == 16 and sorted(results) == stored
    # A burst larger than the listen backlog would cost each dropped SYN a 1 s retransmit.
    assert slack._server is not None and slack._server.request_queue_size >= len(threads)
    assert len(slack.calls) == 16


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("kwargs", "error", "pointer"),
    [
        ({"text": "t", "blocks": [SECTION] * 51}, "invalid_blocks", "/blocks]"),
        (
            {
                "text": "t",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            },
            "invalid_blocks",
            "/blocks/0/text/text",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            },
            "invalid_blocks",
            "/blocks/0/text/text",
        ),
        (
            {
                "text": "t",
                "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            },
            "invalid_blocks",
            "/blocks/0/fields",
        ),
        ({"text": "x" * 40_001}, "msg_too_long", None),
        ({}, "no_text", None),
    ],
)
def test_block_kit_limits(
    slack: SlackStandIn, kwargs: dict[str, Any], error: str, pointer: str | None
) -> None:
    with pytest.raises(SlackApiError) as exc:
        slack.client().chat_postMessage(channel="alerts", **kwargs)
    assert error_of(exc) == error
    if pointer:
        assert any(pointer in e for e in exc.value.response["errors"])
    assert slack.messages("alerts") == []
    # The limits are exact: 50 blocks and a 3000-character section are fine.
    ok = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 50
    assert slack.client().chat_postMessage(channel="alerts", text="t", blocks=ok)["ok"]


def test_rate_limit_honoured_by_sdk_retry_handler(slack: SlackStandIn) -> None:
    client = slack.client()
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as limited:  # no RateLimitErrorRetryHandler by default
        client.chat_postMessage(channel="alerts", text="hi")
    assert limited.value.response.status_code == 429 and error_of(limited) == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "1"

    slack.clear()
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    assert client.chat_postMessage(channel="alerts", text="hi")["ok"]
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, first.error, second.status, second.error) == (
        429,
        "ratelimited",
        200,
        None,
    )
    assert second.at - first.at >= 1.0
    assert len(slack.messages("alerts")) == 1


def test_server_error_raises_and_server_error_handler_retries(slack: SlackStandIn) -> None:
    slack.fail_next(status=500)
    with pytest.raises(SlackApiError) as exc:
        slack.client().chat_postMessage(channel="alerts", text="hi")
    assert exc.value.response.status_code == 500 and error_of(exc) == "internal_error"

    handler = ServerErrorRetryHandler(max_retry_count=1, interval_calculator=FAST)
    client = slack.client(retry_handlers=[handler])
    slack.fail_next("chat.postMessage", status=503)
    assert client.chat_postMessage(channel="alerts", text="hi")["ok"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [500, 503, 200]

    slack.fail_next("chat.postMessage", error="is_archived")  # a 200 ok:false answer
    with pytest.raises(SlackApiError) as archived:
        client.chat_postMessage(channel="alerts", text="hi")
    assert error_of(archived) == "is_archived" and archived.value.response.status_code == 200


def test_files_upload_v2_lands_in_thread(slack: SlackStandIn) -> None:
    client = slack.client()
    parent = client.chat_postMessage(channel="#alerts", text="memory report")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    result = client.files_upload_v2(
        channel=parent["channel"],
        file=png,
        filename="chart.png",
        thread_ts=parent["ts"],
        initial_comment="working set, last 24h",
    )
    assert result["file"]["title"] == "chart.png"  # title defaults to the filename
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]  # and no files.info
    assert slack.calls[1].args["length"] == str(len(png))
    (upload,) = slack.uploads()
    assert upload.id == result["file"]["id"] and upload.data == png
    assert upload.channels == [parent["channel"]] and upload.thread_ts == parent["ts"]
    (reply,) = slack.thread("alerts", parent["ts"])
    assert reply["text"] == "working set, last 24h" and reply["files"][0]["name"] == "chart.png"

    with pytest.raises(SlackApiError) as never_sent:  # completing before the bytes arrive
        client.files_completeUploadExternal(files=[{"id": "F404"}], channel_id=parent["channel"])
    assert error_of(never_sent) == "file_not_found"


def test_upload_url_failure_surfaces_as_raw_http_error(slack: SlackStandIn) -> None:
    slack.fail_next("upload", status=500)
    with pytest.raises(HTTPError) as exc:
        slack.client().files_upload_v2(channel="alerts", content="x", filename="a.txt")
    assert exc.value.code == 500


def test_not_in_channel_and_channel_not_found(slack: SlackStandIn) -> None:
    client = slack.client()
    slack.not_in_channel("#ops")
    with pytest.raises(SlackApiError) as post:
        client.chat_postMessage(channel="ops", text="hi")
    assert error_of(post) == "not_in_channel"
    with pytest.raises(SlackApiError) as upload:
        client.files_upload_v2(channel=slack.channel_id("ops"), content="x", filename="a.txt")
    assert error_of(upload) == "not_in_channel"
    assert client.conversations_info(channel="#ops")["channel"]["is_member"] is False
    client.conversations_join(channel="#ops")
    assert client.chat_postMessage(channel="#ops", text="hi")["ok"]

    with SlackStandIn(known_channels={"#alerts"}) as strict:
        strict_client = strict.client()
        assert strict_client.chat_postMessage(channel="alerts", text="ok")["ok"]
        with pytest.raises(SlackApiError) as missing:
            strict_client.chat_postMessage(channel="#nope", text="hi")
        assert error_of(missing) == "channel_not_found"


def test_down_and_up(slack: SlackStandIn) -> None:
    client = slack.client()
    slack.down()
    for _ in range(3):  # "Slack is down for several cycles"
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="alerts", text="hi")
        assert exc.value.response.status_code == 503
    slack.down(disconnect=True)
    with pytest.raises((ConnectionError, URLError)):
        slack.client(retry_handlers=[]).auth_test()
    # The SDK's default ConnectionErrorRetryHandler retries a dropped connection once.
    retrying = slack.client(retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=FAST)])
    slack.clear()
    with pytest.raises((ConnectionError, URLError)):
        retrying.auth_test()
    assert [c.status for c in slack.calls] == [0, 0]
    slack.up()
    assert client.chat_postMessage(channel="alerts", text="back")["ok"]
    assert [m["text"] for m in slack.messages("alerts")] == ["back"]


def test_delay_trips_client_timeout(slack: SlackStandIn) -> None:
    slack.delay(1.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        slack.client(timeout=1, retry_handlers=[]).auth_test()
    assert time.monotonic() - started >= 0.9  # the client gave up, not the server
    slack.delay(0)
    assert slack.client().auth_test()["ok"]


def test_response_url_takes_five_posts(slack: SlackStandIn) -> None:
    url = slack.response_url("cmd-1")
    webhook = WebhookClient(url)
    for i in range(5):
        assert webhook.send(text=f"part {i}", response_type="ephemeral").status_code == 200
    sixth = webhook.send(text="one too many")
    assert sixth.status_code == 404 and json.loads(sixth.body)["error"] == "used_url"
    assert [r["text"] for r in slack.responses("cmd-1")] == [f"part {i}" for i in range(5)]
    assert WebhookClient(slack.url + "/response/never-issued").send(text="x").status_code == 404


def test_keep_alive_calls_are_not_slowed_by_nagle(slack: SlackStandIn) -> None:
    conn = http.client.HTTPConnection(urlsplit(slack.url).netloc)
    for _ in range(20):
        conn.request("POST", "/api/auth.test", headers={"Authorization": "Bearer xoxb-test"})
        assert json.loads(conn.getresponse().read())["ok"] is True
    # One connection served all 20, and its server side has Nagle off (else ~40 ms each).
    (served,) = slack._connections
    assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    conn.close()
