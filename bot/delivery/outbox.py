"""Draining the outbox: strictly in order, each notification removed only once Slack took it.

A drain runs after every check; a notification Slack did not take (after the SDK's own
retries for 429, 5xx and resets) stops the drain and is tried first at the next one, so the
check interval is the backoff and order is never broken.

A crash between persisting a notification and sending it loses nothing (it is sent after the
restart). A crash after Slack accepted it but before we recorded that can repeat it once:
Slack has no idempotency keys, so at-least-once is the honest guarantee; the window is one
HTTP round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.delivery.slack import SendResult
from bot.state.document import MessageRef, Notification, State
from bot.state.store import StateStore, transact

log = logging.getLogger(__name__)
DEAD_LETTERS_KEPT = 200
# A chart is a courtesy: after this many failed drains its upload is dropped (as a dead
# letter) so that it never holds back the messages queued behind it.
MAX_UPLOAD_ATTEMPTS = 3


class Sender(Protocol):
    def prepare(self, pending: Sequence[Notification]) -> None:
        """Called once per drain with the outbox as it stands: fetch ahead what sending it
        will need (the charts' histories), in a few queries rather than one per message."""

    def send(self, note: Notification, ts: str | None) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class DrainReport:
    sent: int
    dead: int
    pending: int
    error: str | None = None


def drain(
    store: StateStore, sender: Sender, *, now: Callable[[], float] = time.time
) -> DrainReport:
    sent = dead = 0
    pending, _ = store.read()
    if pending.outbox:
        sender.prepare(pending.outbox)
    while True:
        state, _ = store.read()
        if not state.outbox:
            return DrainReport(sent, dead, 0)
        note = state.outbox[0]
        message = state.messages.get(note.thread)
        if note.action != "post" and message is None:
            result = SendResult(ok=False, error="its message was never posted", permanent=True)
        else:
            if message is not None and note.action != "post":
                # Reply where the message is: Slack's channel ID, which uploads require.
                note = note.model_copy(update={"channel": message.channel})
            result = sender.send(note, message.ts if message else None)
        transact(store, _Recorder(note, result, now()))
        if result.ok:
            sent += 1
        elif result.permanent:
            dead += 1
            log.error(
                "Slack refused a notification for good (%s); kept as a dead letter: %s",
                result.error,
                note.text.splitlines()[0][:120],
            )
        else:
            log.warning(
                "Slack delivery failed (%s); %d notification(s) wait for a retry",
                result.error,
                len(state.outbox),
            )
            return DrainReport(sent, dead, len(state.outbox), result.error)


@dataclass(frozen=True, slots=True)
class _Recorder:
    """Writes one send's outcome into the state (re-run on write conflicts)."""

    note: Notification
    result: SendResult
    at: float

    def __call__(self, state: State) -> None:
        _record(state, self.note, self.result, self.at)


def _record(state: State, note: Notification, result: SendResult, at: float) -> None:
    index = next((i for i, n in enumerate(state.outbox) if n.id == note.id), None)
    if index is None:
        return  # another replica recorded it already
    if result.ok:
        state.outbox.pop(index)
        if note.action == "post" and result.ts:
            state.messages[note.thread] = MessageRef(
                channel=result.channel or note.channel, ts=result.ts, posted_at=at
            )
    elif result.permanent or (
        note.action == "upload" and state.outbox[index].attempts + 1 >= MAX_UPLOAD_ATTEMPTS
    ):
        failed = state.outbox.pop(index)
        failed.last_error = result.error
        state.dead_letters = [*state.dead_letters, failed][-DEAD_LETTERS_KEPT:]
    else:
        # The head waits for the next drain (next cycle): the SDK has already retried it.
        pending = state.outbox[index]
        pending.attempts += 1
        pending.last_error = result.error
