"""podmem's Slack endpoint in HTTP mode, in this process, for tests that send it requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App

from bot.delivery.charts import ChartMaker
from bot.delivery.slack import slack_client
from bot.health import serve_http
from bot.metrics import Metrics
from bot.settings import Settings, load_settings
from bot.slack_app.access import Access
from bot.slack_app.answers import Answers
from bot.slack_app.app import Listeners, build_app
from bot.sources.prometheus import PrometheusSource
from bot.state.sqlite import SqliteStore
from tests import datasets as d
from tests.conftest import PrometheusFactory
from tests.prometheus_harness import free_port
from tests.slack_requests import SECRET, signed_post, slash_form
from tests.slack_standin import SlackStandIn


@dataclass
class Bot:
    url: str
    slack: SlackStandIn
    store: SqliteStore

    @property
    def events(self) -> str:
        return f"{self.url}/slack/events"

    def slash(self, text: str, name: str, **form: str) -> tuple[int, float]:
        started = time.monotonic()
        response = signed_post(self.events, slash_form(text, self.slack.response_url(name), **form))
        return response.status_code, time.monotonic() - started

    def answers(self, name: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.slack.responses(name)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no answer on response_url {name!r} within {timeout} s")


def slack_app(settings: Settings, store: SqliteStore) -> App:
    """podmem's Bolt app as `podmem run` wires it, over real Prometheus and the stand-in."""
    source = PrometheusSource(settings)
    client = slack_client(settings)
    answers = Answers(
        source=source,
        kubernetes=None,
        settings=settings,
        clock=lambda: datetime.now(UTC),
        silences=lambda: store.read()[0].silences,
        access=Access.from_slack(settings.access_rules, client),
    )
    listeners = Listeners(
        settings=settings,
        client=client,
        answers=answers,
        store=store,
        charts=ChartMaker(source, settings),
    )
    return build_app(settings=settings, listeners=listeners, client=client)


def start_bot(
    slack: SlackStandIn, prometheus_url: str, tmp_path: Path, **overrides: Any
) -> tuple[Bot, Callable[[], None]]:
    settings: Settings = load_settings(
        prometheus_url=prometheus_url,
        slack_api_url=slack.api_url,
        slack_mode="http",
        slack_signing_secret=SECRET,
        slack_bot_token="xoxb-test",
        slack_channel="#alerts",
        kubernetes="off",
        **overrides,
    )
    store = SqliteStore(tmp_path / "state.db")
    app = slack_app(settings, store)
    port = free_port()
    server = serve_http(
        port, Metrics(), lambda: True, slack=app, signing_secret=SECRET, host="127.0.0.1"
    )
    return Bot(f"http://127.0.0.1:{port}", slack, store), server.shutdown


@pytest.fixture
def bot(prometheus_for: PrometheusFactory, tmp_path: Path) -> Iterator[Bot]:
    with SlackStandIn() as slack:
        started, stop = start_bot(slack, prometheus_for(d.MAIN).url, tmp_path)
        yield started
        stop()
