"""Draining the outbox: strictly in order, each notification removed only once its
destination took all of it.

A drain runs after every check; a notification its destination did not take (after the
SDK's own retries for 429, 5xx and resets) stops the drain and is tried first at the next
one, so the check interval is the backoff and order is never broken. A notice that takes
several calls (a post and its chart) records each call done, so a retry never repeats one.

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

from bot.state.document import MessageRef, Notification, State
from bot.state.store import StateStore, transact

log = logging.getLogger(__name__)
DEAD_LETTERS_KEPT = 200
# A chart is a courtesy: after this many failed drains its upload is skipped so that it
# never holds back the messages queued behind it.
MAX_COURTESY_ATTEMPTS = 3


class Sender(Protocol):
    def prepare(self, pending: Sequence[Notification]) -> None:
        """Called once per drain with the outbox as it stands: fetch ahead what sending it
        will need (the charts' histories), in a few queries rather than one per message."""

    def send(self, note: Notification, message: MessageRef | None) -> SendResult:
        """Make the next call of the notice (`note.parts_sent` are done). `message`: where
        the first post of its thread went, if it went."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """One call's outcome. `more`: the notice has calls left; `posted`: this call opened its
    thread (its ts is where later notices go); `courtesy`: a part that may be skipped (a
    chart) rather than hold the outbox back."""

    ok: bool
    ts: str | None = None
    channel: str | None = None
    error: str | None = None
    permanent: bool = False
    more: bool = False
    posted: bool = False
    courtesy: bool = False


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
        result = sender.send(note, state.message_for(note))
        transact(store, _Recorder(note, result, now()))
        if result.ok:
            sent += 1
        elif result.courtesy and (result.permanent or note.attempts + 1 >= MAX_COURTESY_ATTEMPTS):
            log.warning("a chart was not drawn (%s); its notice goes on without it", result.error)
        elif result.permanent:
            dead += 1
            log.error(
                "%s refused a notice for good (%s); kept as a dead letter: %s",
                note.target,
                result.error,
                note.kind,
            )
        else:
            log.warning(
                "%s delivery failed (%s); %d notification(s) wait for a retry",
                note.target,
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
    if index is None or state.outbox[index].parts_sent != note.parts_sent:
        return  # another replica recorded it already
    pending = state.outbox[index]
    if result.ok and result.posted and result.ts:
        state.messages[note.message_key] = MessageRef(
            channel=result.channel or note.channel, ts=result.ts, posted_at=at
        )
    skipped = result.courtesy and (
        result.permanent or pending.attempts + 1 >= MAX_COURTESY_ATTEMPTS
    )
    if result.ok or skipped:
        if result.more:
            pending.parts_sent += 1
            pending.attempts, pending.last_error = 0, None
        else:
            state.outbox.pop(index)
    elif result.permanent:
        failed = state.outbox.pop(index)
        failed.last_error = result.error
        state.dead_letters = [*state.dead_letters, failed][-DEAD_LETTERS_KEPT:]
    else:
        # The head waits for the next drain (next cycle): the SDK has already retried it.
        pending.attempts += 1
        pending.last_error = result.error
