"""Exactly once where it can be, at most once more where it cannot (issue 13, item 7).

Claims keep concurrent drains apart; a post that may have gone is looked up by its metadata
before it is posted again; a channel that refuses podmem holds only its own notices; a chart
that cannot be drawn holds only its own thread; a long Retry-After is not waited for.
Real Prometheus, the real CLI and slack_sdk, the Slack stand-in over HTTP.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bot.delivery.outbox import CLAIM_BATCH, drain
from bot.delivery.slack import SlackSender
from bot.lifecycle import apply_check
from bot.notices import MonitoringDegraded
from bot.settings import load_settings
from bot.sources.prometheus import PrometheusSource
from bot.state.document import Notification, State
from bot.state.sqlite import SqliteStore
from bot.state.store import transact
from tests.prometheus_harness import PrometheusServer
from tests.slack_standin import SlackStandIn
from tests.test_delivery_faults import CHANNEL, env, own_prometheus, slack, step
from tests.test_storms import SETTINGS, T0, incident

__all__ = ["env", "own_prometheus", "slack"]  # fixtures


def _state(path: Path) -> State:
    store = SqliteStore(path)
    try:
        return store.read()[0]
    finally:
        store.close()


def test_concurrent_drains_never_send_one_notice_twice(slack: SlackStandIn, tmp_path: Path) -> None:
    settings = load_settings(
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_channel=CHANNEL,
        slack_channel_interval_seconds=0,
    )
    store = SqliteStore(tmp_path / "state.db")

    def queue(state: State) -> None:
        for n in range(40):
            note = MonitoringDegraded(error=f"outage {n}")
            state.outbox.append(
                Notification(
                    id=state.new_id(), channel=CHANNEL, thread=f"t{n}", notice=note, created_at=1
                )
            )

    transact(store, queue)
    # Four drains at once, each with its own store connection and its own Slack client.
    drains = [
        threading.Thread(
            target=drain, args=(SqliteStore(tmp_path / "state.db"), SlackSender(settings))
        )
        for _ in range(4)
    ]
    for thread in drains:
        thread.start()
    for thread in drains:
        thread.join()
    drain(store, SlackSender(settings))  # whatever a drain left when it met another's claim
    texts = [m["text"] for m in slack.messages(CHANNEL)]
    assert len(texts) == len(set(texts)) == 40
    assert store.read()[0].outbox == []


def test_a_timeout_after_slack_accepted_is_looked_up_not_posted_again(
    env: dict[str, str],
    slack: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    channel_id = slack.channel_id(CHANNEL)
    monkeypatch.setenv("PODMEM_SLACK_CHANNEL", channel_id)  # history takes IDs only
    monkeypatch.setenv("PODMEM_SLACK_TIMEOUT_SECONDS", "1")
    step(100, capsys)
    slack.delay(2)  # Slack takes the post, then answers after the client gave up
    step(180, capsys)
    (posted,) = slack.top_level(CHANNEL)
    assert posted["text"].startswith(":warning: *WARNING")
    (waiting,) = _state(Path(env["PODMEM_STATE_PATH"])).outbox
    assert waiting.maybe_sent and waiting.parts_sent == 0
    meta = slack.metadata(CHANNEL, posted["ts"])
    assert meta is not None and meta["event_payload"]["id"] == waiting.id
    slack.delay(0)
    assert step(185, capsys)[0] == 0
    assert len(slack.top_level(CHANNEL)) == 1  # found by its metadata, not posted again
    assert slack.calls_to("conversations.history")
    # The rest of the notice went where the first post is: its chart in that thread.
    (chart,) = slack.shared_uploads()
    assert chart.thread_ts == posted["ts"]
    assert _state(Path(env["PODMEM_STATE_PATH"])).outbox == []


def test_a_channel_that_refuses_podmem_waits_for_an_invite(
    env: dict[str, str],
    slack: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    routes = [{"channel": "#team", "namespaces": ["default"]}]
    monkeypatch.setenv("PODMEM_ROUTES", json.dumps(routes))
    slack.not_in_channel("#team")
    step(100, capsys)
    assert step(180, capsys)[0] == 0  # the warning fires, for #team
    assert step(181, capsys)[0] == 0
    state = _state(Path(env["PODMEM_STATE_PATH"]))
    assert state.dead_letters == []
    assert [n.kind for n in state.outbox] == ["alert_fired"]
    assert list(state.unreachable) == ["#team"]
    told = [m["text"] for m in slack.messages(CHANNEL)]
    assert len(told) == 1 and "cannot post to #team" in told[0] and "not_in_channel" in told[0]
    assert slack.messages("#team") == []
    slack.invite("#team")
    assert step(182, capsys)[0] == 0
    (alert,) = slack.top_level("#team")
    assert alert["text"].startswith(":warning: *WARNING · default/deployment/leak")
    state = _state(Path(env["PODMEM_STATE_PATH"]))
    assert state.outbox == [] and state.unreachable == {}
    assert len(slack.messages(CHANNEL)) == 1  # told once


def test_the_degraded_notice_jumps_a_chart_that_cannot_be_drawn(
    own_prometheus: PrometheusServer,
    slack: SlackStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    step(100, capsys)
    # The warning posts; its chart's upload fails (and the SDK's retries with it).
    slack.fail_next("files.getUploadURLExternal", status=500, times=3)
    step(180, capsys)
    assert [n.parts_sent for n in _state(tmp_path / "state.db").outbox] == [1]
    own_prometheus.halt()
    assert step(200, capsys)[0] == 3
    texts = [m["text"] for m in slack.top_level(CHANNEL)]
    # Said while Prometheus is still down, although the chart ahead of it waits.
    assert any("Monitoring degraded" in t for t in texts)
    assert [n.kind for n in _state(tmp_path / "state.db").outbox] == ["alert_fired"]


def test_a_retry_after_past_the_cap_waits_for_the_next_check(
    env: dict[str, str], slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    step(100, capsys)
    slack.fail_next("chat.postMessage", status=429, retry_after=3600)
    assert step(180, capsys)[0] == 0
    assert len(slack.calls_to("chat.postMessage")) == 1  # not retried within this check
    assert slack.top_level(CHANNEL) == []
    assert len(_state(Path(env["PODMEM_STATE_PATH"])).outbox) == 1
    step(185, capsys)
    assert len(slack.top_level(CHANNEL)) == 1


def test_prometheus_retry_after_is_capped_by_the_same_setting() -> None:
    settings = load_settings(
        prometheus_url="http://127.0.0.1:9",
        prometheus_timeout_seconds=30,
        retry_after_max_seconds=5,
    )
    session = PrometheusSource(settings)._client._session
    retry = session.get_adapter("http://127.0.0.1:9").max_retries
    assert retry.parse_retry_after("20") == 5.0


def test_a_drain_writes_the_state_once_per_batch_and_threads_stay_whole(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    """Notices are claimed CLAIM_BATCH at a time, their outcomes written with the next claim
    (a storm minute's 94 messages rewrote the state, on a ConfigMap through the API server,
    each time). A notice claimed in the batch that posts its thread's first message is
    followed there: four alerts fired and, a minute later, escalated, all in one drain."""
    settings = load_settings(
        slack_bot_token="xoxb-test",
        slack_api_url=slack.api_url,
        slack_channel="#alerts",
        slack_channel_interval_seconds=0,
    )
    store = SqliteStore(tmp_path / "state.db")

    def queue(state: State) -> None:
        for minute, level in ((0, 0.4), (1, 0.85), (2, 0.99)):
            at = T0 + 60 * minute
            apply_check(state, incident([level] * 4, at), at=at, settings=SETTINGS)

    transact(store, queue)
    assert len(store.read()[0].outbox) == 8 <= CLAIM_BATCH
    before = int(store.read()[1])
    report = drain(store, SlackSender(settings))
    assert report.pending == 0 and report.sent >= 8
    assert int(store.read()[1]) - before == 2  # the batch's claim; its outcomes, claiming none
    heads = slack.top_level("#alerts")
    assert len(heads) == 4
    for head in heads:
        assert head["text"].startswith(":rotating_light: *CRITICAL")  # edited where it went
        (reply,) = slack.thread("#alerts", head["ts"])
        assert reply["text"].startswith("Escalated to *CRITICAL*")
    assert store.read()[0].outbox == []
