"""One sender for the outbox that hands each notice to its destination's sender."""

from __future__ import annotations

from collections.abc import Sequence

from bot.delivery.outbox import Sender, SendResult
from bot.state.document import MessageRef, Notification, Target


class Dispatcher:
    def __init__(self, senders: dict[Target, Sender]) -> None:
        self.senders = senders

    def prepare(self, pending: Sequence[Notification]) -> None:
        for target, sender in self.senders.items():
            sender.prepare([n for n in pending if n.target == target])

    def send(
        self, note: Notification, message: MessageRef | None, *, channel_id: str | None = None
    ) -> SendResult:
        sender = self.senders.get(note.target)
        if sender is None:  # a route lost its webhook while a notice waited for it
            error = f"no {note.target} destination is configured any more"
            return SendResult(ok=False, error=error, permanent=True)
        return sender.send(note, message, channel_id=channel_id)
