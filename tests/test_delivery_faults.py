"""Nothing lost, nothing doubled: Slack throttling or down, a crash mid-delivery, Prometheus
gone mid-incident. Real Prometheus, real slack_sdk, the Slack stand-in, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import PrometheusServer
from tests.slack_standin import SlackStandIn

CHANNEL = "#alerts"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


def environment(slack: SlackStandIn, prometheus_url: str, state: Path) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "PODMEM_SLACK_API_URL": slack.api_url,
        "PODMEM_SLACK_CHANNEL": CHANNEL,
        "PODMEM_SLACK_CHANNEL_INTERVAL_SECONDS": "0",
        "PODMEM_STATE_PATH": str(state),
        "PODMEM_KUBERNETES": "off",
        "PODMEM_PROMETHEUS_URL": prometheus_url,
    }


@pytest.fixture
def env(
    slack: SlackStandIn,
    prometheus_for: PrometheusFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    values = environment(slack, prometheus_for(d.TIMELINE).url, tmp_path / "state.db")
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def own_prometheus(
    slack: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrometheusServer]:
    """A Prometheus of the test's own (it may halt it), the environment aimed at it."""
    server = PrometheusServer(d.TIMELINE, tmp_path / "prometheus")
    try:
        for key, value in environment(slack, server.url, tmp_path / "state.db").items():
            monkeypatch.setenv(key, value)
        yield server
    finally:
        server.stop()


def check(values: dict[str, str], minute: float) -> subprocess.Popen[bytes]:
    """`podmem check --once` at a minute of the timeline, as its own process."""
    at = d.minutes(d.TIMELINE, minute).isoformat()
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "check", "--once", "--at", at],
        env=values,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def step(minute: float, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check", "--once", "--at", d.minutes(d.TIMELINE, minute).isoformat()])
    return code, capsys.readouterr().out


def test_429_retry_after_is_honoured(
    env: dict[str, str], slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    step(100, capsys)
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    assert step(180, capsys)[0] == 0
    attempts = slack.calls_to("chat.postMessage")
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 1.0
    assert len(slack.top_level(CHANNEL)) == 1


def test_slack_down_for_cycles_then_back_delivers_all_once_in_order(
    env: dict[str, str], slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    step(100, capsys)
    slack.down()
    for minute in (180, 200, 210):
        code, out = step(minute, capsys)
        assert code == 0
        assert "waiting" in out and "Slack: " in out
    assert slack.messages(CHANNEL) == []
    slack.up()
    step(226, capsys)
    top = slack.top_level(CHANNEL)
    assert [m["text"].splitlines()[0].split(" · ")[0] for m in top] == [
        ":boom: *ENDED BY OOM KILL",  # the warning, escalated, then ended
        ":boom: *OOMKilled*",
    ]
    replies = [
        m["text"].split(" ")[0] for m in slack.thread(CHANNEL, top[0]["ts"]) if not m.get("files")
    ]
    assert replies == ["Escalated", "Ended"]
    accepted = [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and c.args.get("thread_ts") is None
    ]
    assert len(set(accepted)) == len(accepted) == 2  # nothing posted twice
    step(240, capsys)
    assert len(slack.top_level(CHANNEL)) == 2  # nothing more, nothing twice
    assert len(slack.uploads()) == 2  # one chart per alert thread


def _outbox_length(state: Path) -> int:
    try:
        with sqlite3.connect(state, timeout=1) as db:
            row = db.execute("SELECT body FROM state WHERE id = 1").fetchone()
    except sqlite3.Error:
        return 0
    return len(json.loads(row[0])["outbox"]) if row else 0


def test_sigkill_between_outbox_and_send_delivers_after_restart(
    slack: SlackStandIn, prometheus_for: PrometheusFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    values = {**os.environ, **environment(slack, prometheus_for(d.TIMELINE).url, state)}

    assert check(values, 100).wait(timeout=60) == 0
    slack.down()  # the send will hang in the SDK's retries: the crash lands in between
    process = check(values, 180)
    deadline = time.monotonic() + 30
    while _outbox_length(state) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _outbox_length(state) == 1  # the alert's notice (its chart is a part of it)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert slack.messages(CHANNEL) == []
    slack.up()
    assert check(values, 185).wait(timeout=60) == 0
    (message,) = slack.top_level(CHANNEL)
    assert message["text"].startswith(":warning: *WARNING · default/deployment/leak · app*")
    assert _outbox_length(state) == 0


def test_prometheus_gone_mid_incident(
    own_prometheus: PrometheusServer, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    step(100, capsys)
    step(180, capsys)  # warning fires
    own_prometheus.halt()
    codes = [step(minute, capsys)[0] for minute in (200, 205, 226)]
    assert codes == [3, 3, 3]
    own_prometheus.start()
    assert step(230, capsys)[0] == 0
    texts = [m["text"].splitlines()[0] for m in slack.messages(CHANNEL) if m["text"]]
    degraded = [t for t in texts if "Monitoring degraded" in t]
    recovered = [t for t in texts if "Monitoring recovered" in t]
    assert len(degraded) == 1 and len(recovered) == 1
    # No resolve while blind: the alert was still open when data came back.
    assert texts.index(degraded[0]) < texts.index(recovered[0])
    assert not any("RESOLVED" in t for t in texts[: texts.index(recovered[0])])


def test_tokens_never_reach_the_log(
    env: dict[str, str],
    slack: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PODMEM_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("PODMEM_PROMETHEUS_BEARER_TOKEN", "prom-secret-123")
    slack.fail_next("chat.postMessage", status=500)
    main(["check", "--once", "--at", d.minutes(d.TIMELINE, 100).isoformat()])
    main(["check", "--once", "--at", d.minutes(d.TIMELINE, 180).isoformat()])
    err = capsys.readouterr().err
    assert "Sending a request" in err  # the SDK's debug log really was on
    assert "xoxb-test" not in err and "prom-secret-123" not in err
