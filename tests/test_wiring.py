"""`build(settings)`: the one wiring of sources, store, charts and senders that `podmem run`,
the commands and the benchmarks share."""

from __future__ import annotations

from pathlib import Path

from bot.delivery.slack import SlackSender
from bot.delivery.webhook import WebhookSender
from bot.settings import load_settings
from bot.state.memory import MemoryStore
from bot.wiring import build


def test_parts_are_built_on_first_use_and_once(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    parts = build(load_settings(kubernetes="off", state_path=state, slack_channel="#a"))
    assert parts.source is parts.source and parts.charts.source is parts.source
    assert parts.kubernetes is None  # the API is off: Prometheus-only mode
    assert not state.exists()  # a report or a dry run never opens the state
    parts.store.read()
    assert state.exists()


def test_the_sender_has_a_webhook_leg_only_when_a_route_names_one() -> None:
    plain = build(load_settings(kubernetes="off", slack_channel="#a"), store=MemoryStore())
    assert set(plain.sender.senders) == {"slack"}
    hooked = build(
        load_settings(
            kubernetes="off",
            webhook_secret="s",
            routes=[{"channel": "#b", "webhook_url": "http://pager.example/hook"}],
        ),
        store=MemoryStore(),
    )
    assert isinstance(hooked.sender.senders["slack"], SlackSender)
    assert isinstance(hooked.sender.senders["webhook"], WebhookSender)
    slack = hooked.sender.senders["slack"]
    assert isinstance(slack, SlackSender) and slack.charts is hooked.charts
