"""`podmem check --once --at ...` stepped through an incident with one state file.

Real Prometheus (generated data), the real slack_sdk against the Slack stand-in, the real
CLI. Each step runs twice: a restarted bot must not say anything twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.cycle import run_cycle
from bot.settings import load_settings
from bot.wiring import build
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.slack_standin import SlackStandIn

CHANNEL = "#alerts"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def bot_env(
    slack: SlackStandIn,
    prometheus_for: PrometheusFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    state = tmp_path / "state.db"
    for key, value in {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "PODMEM_SLACK_API_URL": slack.api_url,
        "PODMEM_SLACK_CHANNEL": CHANNEL,
        "PODMEM_SLACK_CHANNEL_INTERVAL_SECONDS": "0",
        "PODMEM_STATE_PATH": str(state),
        "PODMEM_KUBERNETES": "off",
        "PODMEM_PROMETHEUS_URL": prometheus_for(d.TIMELINE).url,
    }.items():
        monkeypatch.setenv(key, value)
    return state


def step(minute: float, capsys: pytest.CaptureFixture[str]) -> int:
    at = d.minutes(d.TIMELINE, minute).isoformat()
    code = main(["check", "--once", "--at", at])
    capsys.readouterr()
    return code


def chat_calls(slack: SlackStandIn) -> list[tuple[str, bool]]:
    """(method, is a thread reply) for every chat call, in order."""
    return [
        (c.method, bool(c.args.get("thread_ts")))
        for c in slack.calls
        if c.method.startswith("chat.")
    ]


def test_incident_timeline(
    bot_env: Path, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    expected_after = {
        100: [],  # healthy: first cycle, nothing to say
        180: [("chat.postMessage", False)],  # warning
        200: [("chat.update", False), ("chat.postMessage", True)],  # escalation: edit + note
        226: [  # OOM-killed at ~222 min and restarted: one kill post, then the resolve
            ("chat.postMessage", False),
            ("chat.update", False),
            ("chat.postMessage", True),
        ],
        240: [],  # healthy again
    }
    seen: list[tuple[str, bool]] = []
    for minute, new in expected_after.items():
        for _ in range(2):  # the second run is a restarted bot: it must add nothing
            assert step(minute, capsys) == 0
        seen += new
        assert chat_calls(slack) == seen, f"after minute {minute}"

    messages = [m for m in slack.messages(CHANNEL) if m["thread_ts"] in (None, m["ts"])]
    assert len(messages) == 2
    memory, oom = messages
    assert memory["text"].startswith(":boom: *ENDED BY OOM KILL · default/deployment/leak")
    assert "see the OOMKilled message" in memory["text"]  # one line, pointing to the kill
    assert memory["edits"] == 2  # escalated, then resolved
    assert ":boom: *OOMKilled*" in oom["text"] and "default/leak-7d9f-x2" in oom["text"]
    replies = [m["text"] for m in slack.thread(CHANNEL, memory["ts"]) if not m.get("files")]
    assert replies[0].startswith("Escalated to *CRITICAL*")
    assert replies[1].startswith("Ended by the OOM kill at")
    # The chart went into each alert's thread, as a real PNG.
    uploads = slack.uploads()
    assert {u.thread_ts for u in uploads} == {memory["ts"], oom["ts"]}
    assert all(u.data.startswith(b"\x89PNG") for u in uploads)


def test_the_warning_carries_the_figures(
    bot_env: Path, slack: SlackStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    step(100, capsys)
    step(180, capsys)
    (message,) = [m for m in slack.messages(CHANNEL) if m["thread_ts"] in (None, m["ts"])]
    # What a lock screen shows: severity, workload, container, then when and why.
    title, first = message["text"].splitlines()
    assert title == ":warning: *WARNING · default/deployment/leak · app*"
    assert first.startswith("84 % of its 256Mi limit") and "RSS-driven: likely a leak" in first
    # In the channel: at most six figures, working set first, usage not among them.
    (figures,) = [b["fields"] for b in message["blocks"] if b.get("fields")]
    names = [f["text"].split("*")[1] for f in figures]
    assert names == [
        "Working set",
        "Limit · request",
        "RSS (not reclaimable)",
        "Page cache",
        "Trend",
    ]
    assert "+1.0 MiB/min · limit in" in figures[-1]["text"]
    assert not any(b["type"] == "section" and "usage" in str(b).lower() for b in message["blocks"])


def test_a_scheduled_cycle_tells_the_figures_check_once_tells(
    bot_env: Path,
    slack: SlackStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`podmem run` fetches of every candidate what judging it needs, and the rest of the
    breakdown for the containers its notices tell; `check --once` prints every alert, so
    it asks for every alert's. The warning reads the same either way."""
    settings = load_settings()
    parts = build(settings)
    for minute in (100, 180):
        run_cycle(
            source=parts.source,
            kubernetes=parts.kubernetes,
            store=parts.store,
            sender=parts.sender,
            settings=settings,
            at=d.minutes(d.TIMELINE, minute),
        )
    (scheduled,) = [m for m in slack.messages(CHANNEL) if m["thread_ts"] in (None, m["ts"])]
    # The same incident told again by the CLI, from a state of its own.
    monkeypatch.setenv("PODMEM_STATE_PATH", str(bot_env.with_name("cli.db")))
    step(100, capsys)
    step(180, capsys)
    told = [m for m in slack.messages(CHANNEL) if m["thread_ts"] in (None, m["ts"])]
    assert len(told) == 2 and told[0]["ts"] == scheduled["ts"]
    assert told[1]["text"] == scheduled["text"] and told[1]["blocks"] == scheduled["blocks"]
    (figures,) = [b["fields"] for b in scheduled["blocks"] if b.get("fields")]
    assert "n/a" not in str(figures) and "+1.0 MiB/min" in figures[-1]["text"]
