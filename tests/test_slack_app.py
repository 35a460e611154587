"""`/podmem` and the buttons over HTTP mode: signed requests from "Slack" to the real Bolt app,
answers through response_url and the Web API stand-in, data from a real Prometheus."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.settings import load_settings
from bot.silences import add_silence
from bot.state.sqlite import SqliteStore
from bot.state.store import transact
from tests import datasets as d
from tests.bad_prometheus import BadPrometheus
from tests.conftest import PrometheusFactory
from tests.http_bot import Bot, slack_app, start_bot
from tests.slack_requests import action_form, signed_post, slash_form
from tests.slack_standin import SlackStandIn

AT = "--at 2026-11-01T02:10:00Z"


def text_of(answer: dict[str, Any]) -> str:
    return str(answer.get("text", ""))


def test_report_is_acknowledged_before_prometheus_answers(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    """Slack's 3 s: the ack must not wait for the report. Prometheus is held behind a closed
    gate; the slash command is acknowledged anyway, and answered once the gate opens."""
    with SlackStandIn() as slack, BadPrometheus(prometheus_for(d.MAIN).url) as prometheus:
        prometheus.mode = "held"
        bot, stop = start_bot(slack, prometheus.url, tmp_path)
        try:
            status, _ = bot.slash(f"default/cache-5c4b-q1 {AT}", "r1")
            assert status == 200
            assert slack.responses("r1") == []  # acknowledged with Prometheus still held
            prometheus.gate.set()
            (answer,) = bot.answers("r1")
            assert prometheus.requests > 0 and "cache_heavy" in text_of(answer)
        finally:
            stop()


def test_acks_never_wait_behind_report_work(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    """More reports than Bolt has workers, all stuck on a held Prometheus: every request is
    still acknowledged (the ack waited for a free worker: p99 1.1 s under 200 requests)."""
    from concurrent.futures import ThreadPoolExecutor

    count = 12  # Bolt's pool has 5 workers; podmem's query pool a few more
    with SlackStandIn() as slack, BadPrometheus(prometheus_for(d.MAIN).url) as prometheus:
        prometheus.mode = "held"
        bot, stop = start_bot(slack, prometheus.url, tmp_path)
        try:
            with ThreadPoolExecutor(count) as pool:
                sent = pool.map(
                    lambda i: bot.slash(f"default/cache-5c4b-q1 {AT}", f"c{i}", user=f"U0{i:03d}"),
                    range(count),
                )
                statuses = [status for status, _ in sent]
            assert statuses == [200] * count
            assert not prometheus.gate.is_set()  # every ack came with Prometheus still held
            assert all(slack.responses(f"c{i}") == [] for i in range(count))
            prometheus.gate.set()
            assert all("cache_heavy" in text_of(bot.answers(f"c{i}")[0]) for i in range(count))
        finally:
            prometheus.gate.set()
            stop()


def test_report_is_answered(bot: Bot) -> None:
    status, _ = bot.slash(f"default/cache-5c4b-q1 {AT}", "r1")
    assert status == 200
    (answer,) = bot.answers("r1")
    assert answer["response_type"] == "ephemeral"
    assert "cache_heavy" in text_of(answer)
    blocks = answer["blocks"]
    assert blocks[0]["type"] == "header" and "default/cache-5c4b-q1" in blocks[0]["text"]["text"]
    flat = str(blocks)
    assert "no OOM risk" in flat and "Reclaimable cache" in flat and "Share with chart" in flat


@pytest.mark.parametrize(
    ("forge", "age", "status"),
    [(True, 0, 401), (False, 600, 401)],
)
def test_forged_or_stale_signatures_are_refused(
    bot: Bot, forge: bool, age: int, status: int
) -> None:
    form = slash_form("help", bot.slack.response_url("x"))
    response = signed_post(bot.events, form, forge=forge, timestamp=int(time.time()) - age)
    assert response.status_code == status
    assert bot.slack.responses("x") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('x"})or(vector(1))or(up{a="', "is not a pod name"),
        ('x"}) or vector(1) or up{a="', "one target at a time"),
        ("api --at yesterday", "bad time"),
        ("api --range forever", "bad duration"),
        ("api --frobnicate", "unknown option"),
        ("a b", "one target at a time"),
        ("deploy/api", "which namespace?"),
        ("api --at 2099-01-01T00:00:00Z", "in the future"),
        ("x" * 400, "at most 300"),
        ('api --cluster x"}or(up)', "is not a cluster name"),
        ("api --cluster", "--cluster needs a value"),
    ],
)
def test_bad_input_gets_one_clear_line_and_the_usage(bot: Bot, text: str, expected: str) -> None:
    status, _ = bot.slash(text, "bad")
    assert status == 200
    (answer,) = bot.answers("bad")
    assert expected in text_of(answer)
    assert "Usage:" in text_of(answer)
    assert "Traceback" not in str(answer)


def test_ambiguous_offers_buttons_and_not_found_offers_closest(bot: Bot) -> None:
    bot.slash(f"twin-0001 {AT}", "amb")
    (answer,) = bot.answers("amb")
    buttons = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["text"]["text"] for b in buttons} == {"team-a/twin-0001", "team-b/twin-0001"}
    bot.slash(f"cache-5c4x-q1 {AT}", "nf")
    (answer,) = bot.answers("nf")
    assert "Closest: default/cache-5c4b-q1" in text_of(answer)
    # The pods are in the unnamed cluster: in cluster "east" there is no such pod.
    bot.slash(f"cache-5c4b-q1 --cluster east {AT}", "east")
    (answer,) = bot.answers("east")
    assert "no pod named or starting with 'cache-5c4b-q1' of cluster east" in text_of(answer)


def test_help_top_and_workload(bot: Bot) -> None:
    bot.slash("help", "h")
    assert "working set" in text_of(bot.answers("h")[0])
    bot.slash(f"top {AT}", "t")
    assert "Closest to their limit" in text_of(bot.answers("t")[0])
    bot.slash(f"deploy/api -n default {AT}", "w")
    assert "deployment/api in default" in text_of(bot.answers("w")[0])


def test_rate_limit_per_user(bot: Bot) -> None:
    for i in range(10):
        bot.slash("help", f"ok{i}")
    bot.slash("help", "eleventh")
    assert "try again in" in text_of(bot.answers("eleventh")[0])
    bot.slash("help", "other", user="U0BOB")
    assert "working set" in text_of(bot.answers("other")[0])


def test_report_buttons_share_the_rate_limit(bot: Bot) -> None:
    """Full report runs the same work as /podmem: twelve clicks are not twelve reports."""
    value = {"c": "", "n": "default", "p": "cache-5c4b-q1", "k": "app"}
    for i in range(11):
        form = action_form(
            "podmem_report", value, response_url=bot.slack.response_url(f"r{i}"), channel="C0A"
        )
        assert signed_post(bot.events, form).status_code == 200
    # The reports run on Bolt's workers, so which click comes last is theirs to decide.
    said = [text_of(bot.answers(f"r{i}")[0]) for i in range(11)]
    assert sum("try again in" in t for t in said) == 1


def test_refused_namespace_reveals_nothing(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    with SlackStandIn() as slack:
        bot, stop = start_bot(
            slack,
            prometheus_for(d.MAIN).url,
            tmp_path,
            access_rules=[{"namespaces": ["team-*"], "channels": ["C0ALERTS"]}],
        )
        try:
            bot.slash(f"default/cache-5c4b-q1 {AT}", "refused")
            bot.slash(f"default/no-such-pod {AT}", "absent")
            bot.slash(f"team-a/twin-0001 {AT}", "allowed")
            bot.slash(f"team-a/twin-0001 {AT}", "elsewhere", channel="C0RANDOM")
            refused, absent = text_of(bot.answers("refused")[0]), text_of(bot.answers("absent")[0])
            assert "no pod named" in refused and "no pod named" in absent
            # Word for word the answer for a pod that does not exist: nothing leaks.
            assert refused.replace("cache-5c4b-q1", "?") == absent.replace("no-such-pod", "?")
            assert "team-a/twin-0001" in text_of(bot.answers("allowed")[0])
            assert "not enabled for you" in text_of(bot.answers("elsewhere")[0])
        finally:
            stop()


def test_snooze_button_writes_state_and_says_who_on_the_message(bot: Bot) -> None:
    client = bot.slack.client()
    posted = client.chat_postMessage(
        channel="#alerts",
        text="WARNING memory",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "WARNING"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "podmem_snooze_1h",
                        "text": {"type": "plain_text", "text": "Snooze 1 h"},
                        "value": "{}",
                    }
                ],
            },
        ],
    )
    message = {"ts": posted["ts"], "text": "WARNING memory", "blocks": posted["message"]["blocks"]}
    value = {"c": "", "n": "default", "p": "leak-7d9f-x2", "k": "app", "w": "deployment/leak"}
    form = action_form(
        "podmem_snooze_1h",
        value,
        response_url=bot.slack.response_url("b"),
        channel=posted["channel"],
        message=message,
    )
    assert signed_post(bot.events, form).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not bot.slack.messages("#alerts")[0]["edits"]:
        time.sleep(0.05)
    updated = bot.slack.messages("#alerts")[0]
    # The workload: the next rollout's pods stay snoozed too.
    assert "Snoozed workload deployment/leak by <@U0ALICE> until" in str(updated["blocks"])
    assert "Unmute" in str(updated["blocks"]) and "Snooze 1 h" not in str(updated["blocks"])
    (silence,) = bot.store.read()[0].silences
    assert (silence.scope, silence.name, silence.created_by) == (
        "workload",
        "deployment/leak",
        "<@U0ALICE>",
    )
    assert silence.until is not None and 3500 < silence.until - time.time() <= 3600


def test_the_menu_snoozes_one_pods_container_through_slack(bot: Bot) -> None:
    posted = bot.slack.client().chat_postMessage(channel="#alerts", text="WARNING memory")
    message = {"ts": posted["ts"], "text": "WARNING memory", "blocks": []}
    value = {"c": "", "n": "default", "p": "leak-7d9f-x2", "k": "app", "w": "deployment/leak"}
    form = action_form(
        "podmem_snooze_container",
        {**value, "d": "1h"},
        response_url=bot.slack.response_url("menu"),
        channel=posted["channel"],
        message=message,
        overflow=True,
    )
    assert signed_post(bot.events, form).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not bot.store.read()[0].silences:
        time.sleep(0.05)
    (silence,) = bot.store.read()[0].silences
    assert (silence.scope, silence.name) == ("container", "leak-7d9f-x2/app")
    assert silence.until == silence.created_at + 3600


def test_the_same_command_over_socket_mode(
    prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from tests.socket_standin import SocketModeStandIn

    with (
        SlackStandIn() as slack,
        SocketModeStandIn(slack) as socket,
        BadPrometheus(prometheus_for(d.MAIN).url) as prometheus,
    ):
        prometheus.mode = "held"
        settings = load_settings(
            prometheus_url=prometheus.url,
            slack_api_url=slack.api_url,
            slack_bot_token="xoxb-test",
            slack_app_token="xapp-test",
            slack_channel="#alerts",
            kubernetes="off",
        )
        handler = SocketModeHandler(
            slack_app(settings, SqliteStore(tmp_path / "s.db")), app_token="xapp-test"
        )
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            socket.wait_connected()
            envelope = socket.send_slash_command(
                text=f"default/cache-5c4b-q1 {AT}", response_url=slack.response_url("sm")
            )
            # Acknowledged while Prometheus is held: the ack never waits for the report.
            ack = socket.wait_ack(envelope, timeout=60)
            assert ack.acked_after is not None and slack.responses("sm") == []
            prometheus.gate.set()
            deadline = time.monotonic() + 60
            while not slack.responses("sm") and time.monotonic() < deadline:
                time.sleep(0.05)
            (answer,) = slack.responses("sm")
            assert "cache_heavy" in text_of(answer)
        finally:
            handler.close()  # type: ignore[no-untyped-call]


def test_share_posts_in_channel_with_the_chart_or_asks_for_an_invite(bot: Bot) -> None:
    bot.slash(f"default/leak-7d9f-x2 --share {AT}", "share", channel="C0ALERTS")
    deadline = time.monotonic() + 20
    # Until the upload is complete (announced, bytes sent, shared), not merely announced.
    while not bot.slack.shared_uploads() and time.monotonic() < deadline:
        time.sleep(0.05)
    (post,) = bot.slack.top_level("C0ALERTS")
    assert "default/leak-7d9f-x2" in post["text"]
    (upload,) = bot.slack.shared_uploads()
    assert upload.thread_ts == post["ts"] and upload.data.startswith(b"\x89PNG")
    bot.slack.not_in_channel("C0SECRET")
    bot.slash(f"default/leak-7d9f-x2 --share {AT}", "invite", channel="C0SECRET")
    (answer,) = bot.answers("invite")
    assert answer["response_type"] == "in_channel"
    assert "Invite me" in str(answer["blocks"])


def test_silences_are_listed_with_unmute_buttons_that_lift_them(bot: Bot) -> None:
    def silence(state: Any) -> None:
        for scope, namespace, name, until in (
            ("workload", "default", "deployment/leak", time.time() + 3600),
            ("namespace", "batch", "", None),
            ("pod", "default", "web-6b8c-m2n7v", time.time() - 60),  # expired: not listed
        ):
            add_silence(
                state,
                scope=scope,
                namespace=namespace,
                name=name,
                cluster="",
                until=until,
                by="<@U0BOB>",
                reason="load test",
                at=time.time() - 120,
            )

    transact(bot.store, silence)
    assert bot.slash("silences", "s1")[0] == 200
    (answer,) = bot.answers("s1")
    text = text_of(answer)
    assert "2 active snooze(s) and mute(s)" in text
    assert "workload `default/deployment/leak` · 🔕 Snoozed" in text
    assert "namespace `batch` · 🔕 Muted" in text and "web-6b8c" not in text
    unmute = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in unmute] == ["podmem_unsilence"] * 2
    first = unmute[0]["value"]
    form = action_form(
        "podmem_unsilence",
        json.loads(first),
        response_url=bot.slack.response_url("u1"),
        channel="C0ALERTS",
    )
    assert signed_post(bot.events, form).status_code == 200
    (said,) = bot.answers("u1")
    assert said["text"].startswith("🔕 Unmuted namespace batch/") and "<@U0ALICE>" in said["text"]
    assert [s.scope for s in bot.store.read()[0].silences if s.until is None] == []
    # Only the namespaces the asker may see are listed (filter by -n as well).
    assert bot.slash("silences -n default", "s2")[0] == 200
    assert "1 active snooze(s)" in text_of(bot.answers("s2")[0])


def test_no_response_url_in_the_log_at_any_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A response_url is a capability (anyone holding it may answer as podmem for 30 min):
    not in a log line even at DEBUG, whatever its host (the SDK logs each one it POSTs to)."""
    from bot.logs import setup_logging

    setup_logging("DEBUG")
    with SlackStandIn() as slack:
        bot, stop = start_bot(slack, "http://127.0.0.1:9", tmp_path)
        try:
            bot.slash("help", "CAPABILITY-slash")
            form = action_form(
                "podmem_unsilence",
                {"id": "gone"},
                response_url=slack.response_url("CAPABILITY-button"),
                channel="C0ALERTS",
            )
            assert signed_post(bot.events, form).status_code == 200
            bot.answers("CAPABILITY-slash"), bot.answers("CAPABILITY-button")
        finally:
            stop()
    err = capsys.readouterr().err
    assert "Sending a request" in err  # the SDK's debug lines were on
    assert "CAPABILITY" not in err
