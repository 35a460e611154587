"""The outbox's sender as the settings ask for it: Slack always, a signed webhook for the
routes that name one."""

from __future__ import annotations

from bot.delivery.charts import ChartMaker
from bot.delivery.dispatch import Dispatcher
from bot.delivery.outbox import Sender
from bot.delivery.slack import SlackSender
from bot.delivery.webhook import WebhookSender
from bot.settings import Settings
from bot.state.document import Target


def build_sender(settings: Settings, charts: ChartMaker | None) -> Dispatcher:
    senders: dict[Target, Sender] = {"slack": SlackSender(settings, charts=charts)}
    if any(route.webhook_url for route in settings.routes):
        senders["webhook"] = WebhookSender(settings)
    return Dispatcher(senders)
