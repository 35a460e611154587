"""The bot's HTTP port with the Bolt app, alone in its own process, for the /podmem latencies."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime
from pathlib import Path

from bot.delivery.slack import slack_client
from bot.health import serve_http
from bot.metrics import Metrics
from bot.settings import load_settings
from bot.slack_app.answers import Answers
from bot.slack_app.app import Listeners, build_app
from bot.state.sqlite import SqliteStore
from bot.wiring import build


def main() -> int:
    config = json.loads(sys.argv[1])
    settings = load_settings(
        prometheus_url=config["prometheus_url"],
        slack_api_url=config["slack_api_url"],
        slack_bot_token="xoxb-test",
        slack_mode="http",
        slack_signing_secret=config["secret"],
        slack_channel="#bench",
        kubernetes="off",
        slash_rate_per_minute=1000,
    )
    at = datetime.fromisoformat(config["at"])
    # Wired as `podmem run` wires it: charts drawn by its worker processes.
    parts = build(
        settings,
        store=SqliteStore(Path(config["state_path"])),
        chart_processes=settings.chart_processes,
    )
    client = slack_client(settings)
    answers = Answers(source=parts.source, kubernetes=None, settings=settings, clock=lambda: at)
    listeners = Listeners(
        settings=settings,
        client=client,
        answers=answers,
        store=parts.store,
        charts=parts.charts,
    )
    app = build_app(settings=settings, listeners=listeners, client=client)
    serve_http(
        config["port"],
        Metrics(),
        lambda: True,
        slack=app,
        signing_secret=config["secret"],
        host="127.0.0.1",
    )
    print("ready", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
