"""Notices to a webhook: one signed JSON POST each, for pagers and in-house bots.

The signature is an HMAC-SHA256 over `v1:<timestamp>:<body>` with the shared
`webhook_secret`, sent as `X-Podmem-Signature: v1=<hex>` with `X-Podmem-Timestamp`, so a
receiver can check both who sent it and that it is fresh (refuse a timestamp older than a
few minutes). `X-Podmem-Notice` carries the notice id: the same id twice is a redelivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence

import requests

from bot.analysis import Thresholds
from bot.delivery.outbox import SendResult
from bot.render.webhook import payload
from bot.settings import Settings
from bot.state.document import MessageRef, Notification

# Answers that will not change on a retry: the receiver refuses this notice for good.
PERMANENT = range(400, 500)
RETRYABLE = (408, 425, 429)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


class WebhookSender:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        if settings.webhook_secret is None:
            raise ValueError("a webhook sender needs webhook_secret")
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.timeout = settings.webhook_timeout_seconds
        self.base = Thresholds.from_settings(settings)
        self._clock = clock
        self._session = requests.Session()

    def prepare(self, pending: Sequence[Notification]) -> None:
        """Nothing to fetch ahead: a webhook notice is its JSON."""

    def send(
        self, note: Notification, message: MessageRef | None, *, channel_id: str | None = None
    ) -> SendResult:
        body = json.dumps(payload(note, self.base), separators=(",", ":")).encode()
        timestamp = f"{self._clock():.0f}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "podmem",
            "X-Podmem-Notice": note.id,
            "X-Podmem-Timestamp": timestamp,
            "X-Podmem-Signature": sign(self.secret, timestamp, body),
        }
        try:
            answer = self._session.post(
                note.channel, data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as failure:
            return SendResult(ok=False, error=f"webhook unreachable ({type(failure).__name__})")
        status = answer.status_code
        if 200 <= status < 300:
            return SendResult(ok=True)
        permanent = status in PERMANENT and status not in RETRYABLE
        return SendResult(ok=False, error=f"webhook answered HTTP {status}", permanent=permanent)
