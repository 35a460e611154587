"""Draining the outbox: strictly in order, each notification removed only once its
destination took all of it.

A drain runs after every check; a notification its destination did not take (after the
SDK's own retries for 429, 5xx and resets) stops the drain and is tried first at the next
one, so the check interval is the backoff and order is never broken. A notice that takes
several calls (a post and its chart) records each call done, so a retry never repeats one.

Notices are claimed before they are sent, CLAIM_BATCH at a time (bot.delivery.claims):
concurrent drains never send the same one. A crash between persisting a notification and
sending it loses nothing (it is sent after the restart). When we cannot know whether Slack
took a post (a timeout after it accepted, a holder that died mid-send) the notice is "maybe
sent": Slack has no idempotency keys, so the next attempt first looks for the post by the
metadata podmem attaches to it, and posts again only if it is not there. A holder that dies
mid-batch leaves each notice of its batch not yet recorded "maybe sent".

A channel that refuses podmem (not invited, not found) holds only its own notices: they
wait, the default channel is told once, and they go out once the bot is invited. A chart
that cannot be drawn holds only its own thread, never the notices of others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bot.delivery.claims import Claim, Taken, holding, release
from bot.notices import ChannelUnreachable
from bot.state.document import MessageRef, Notification, State
from bot.state.store import StateStore, transact

log = logging.getLogger(__name__)
T = TypeVar("T")
DEAD_LETTERS_KEPT = 200
# A chart is a courtesy: after this many failed drains its upload is skipped so that it
# never holds back the messages queued behind it.
MAX_COURTESY_ATTEMPTS = 3
# How long a claim holds a notice: longer than any one send can take (Slack's timeout times
# its retries, a capped Retry-After, a chart's range query); a holder that died is seen at
# once on its own host, on another only when the lease ends.
LEASE_SECONDS = 300.0
# Notices claimed in one write of the state, their outcomes written with the next claim. A
# holder that dies mid-batch leaves at most this many "maybe sent" (looked up before they
# are posted again, as any claim whose holder died).
CLAIM_BATCH = 10


class Sender(Protocol):
    def prepare(self, pending: Sequence[Notification]) -> None:
        """Called once per drain with the outbox as it stands: fetch ahead what sending it
        will need (the charts' histories), in a few queries rather than one per message."""

    def send(
        self, note: Notification, message: MessageRef | None, *, channel_id: str | None = None
    ) -> SendResult:
        """Make the next call of the notice (`note.parts_sent` are done). `message`: where
        the first post of its thread went, if it went; `channel_id`: Slack's ID of the
        notice's channel when known (looking up a post needs it, posting does not)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """One call's outcome. `more`: the notice has calls left; `posted`: this call opened its
    thread (its ts is where later notices go); `courtesy`: a part that may be skipped (a
    chart) rather than hold the outbox back; `uncertain`: the call may have been taken (a
    timeout after sending); `unreachable`: the destination refuses podmem until a person
    acts (invite the bot): its notices wait, others go on."""

    ok: bool
    ts: str | None = None
    channel: str | None = None
    error: str | None = None
    permanent: bool = False
    more: bool = False
    posted: bool = False
    courtesy: bool = False
    uncertain: bool = False
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class DrainReport:
    sent: int
    dead: int
    pending: int
    error: str | None = None


def drain(
    store: StateStore,
    sender: Sender,
    *,
    now: Callable[[], float] = time.time,
    tell: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    lease_seconds: float = LEASE_SECONDS,
) -> DrainReport:
    """Send what waits, in order. `tell`: the Slack channel told when another refuses podmem;
    `stop`: asked between notices (shutdown): the drain ends there, its claims given back."""
    with holding() as holder:
        return _drain(store, sender, holder, now=now, tell=tell, stop=stop, lease=lease_seconds)


def _drain(
    store: StateStore,
    sender: Sender,
    holder: str,
    *,
    now: Callable[[], float],
    tell: str | None,
    stop: Callable[[], bool],
    lease: float,
) -> DrainReport:
    pending, _ = store.read()
    if not pending.outbox:
        # Nothing waits: no claim, so no write of the whole state (most checks send nothing).
        return DrainReport(0, 0, 0)
    sender.prepare(pending.outbox)
    run = _Run(sender, holder, now, tell)
    while True:
        if stop():
            return run.stopped(store)
        # The outcomes of the last batch are written in the transaction that claims the next:
        # one read and write of the state per CLAIM_BATCH notices, not per message (a storm
        # minute's drain was 94 writes of the state; on a ConfigMap, 94 updates through the
        # API server).
        claim = Claim(
            holder,
            now(),
            lease,
            frozenset(run.skip_channels),
            frozenset(run.skip_threads),
            count=CLAIM_BATCH,
        )
        claimed = transact(store, _After(run.take_outcomes(), claim))
        if not claimed.taken:
            if claimed.held:
                log.info("another podmem is sending the outbox; %d wait for it", claimed.pending)
            return DrainReport(run.sent, run.dead, claimed.pending)
        for taken in claimed.taken:
            if stop():
                return run.stopped(store)
            try:
                failed = run.send(taken)
            except BaseException:
                run.give_back(store)
                raise
            if failed is not None:
                waiting = run.give_back(store)
                log.warning(
                    "%s delivery failed (%s); %d notification(s) wait for a retry",
                    taken.note.target,
                    failed,
                    waiting,
                )
                return DrainReport(run.sent, run.dead, waiting, failed)


class _Run:
    """One drain's sends: their outcomes since the last write of the state, and what they
    taught that the state will only know once those are written (the first post of a
    thread, a channel's Slack ID); the channels and threads that wait for the next drain."""

    def __init__(
        self, sender: Sender, holder: str, now: Callable[[], float], tell: str | None
    ) -> None:
        self.sender, self.holder, self.now, self.tell = sender, holder, now, tell
        self.sent = self.dead = 0
        self.skip_channels: set[tuple[str, str]] = set()
        self.skip_threads: set[str] = set()
        self.outcomes: list[_Recorder] = []
        self.posted: dict[str, MessageRef] = {}
        self.channel_ids: dict[str, str] = {}

    def take_outcomes(self) -> list[_Recorder]:
        outcomes, self.outcomes = self.outcomes, []
        self.posted, self.channel_ids = {}, {}
        return outcomes

    def give_back(self, store: StateStore) -> int:
        """Write the outcomes so far and end this drain's claims; how many notices wait."""
        holder = self.holder
        transact(store, _After(self.take_outcomes(), lambda s: release(s, holder)))
        return len(store.read()[0].outbox)

    def stopped(self, store: StateStore) -> DrainReport:
        return DrainReport(self.sent, self.dead, self.give_back(store), "stopping")

    def send(self, taken: Taken) -> str | None:
        """Every call the notice has left, in turn; the error of one that must be retried
        at the next drain (the drain stops there), else None."""
        note = taken.note
        key = note.message_key
        if (note.target, note.channel) in self.skip_channels or key in self.skip_threads:
            return None  # given back by the next claim
        while True:
            message = taken.message or self.posted.get(key)
            channel_id = taken.channel_id or self.channel_ids.get(note.channel)
            result = self.sender.send(note, message, channel_id=channel_id)
            at = self.now()
            self.outcomes.append(_Recorder(note, result, at, self.holder, self.tell))
            if result.ok and result.posted and result.ts:
                self.posted[key] = MessageRef(
                    channel=result.channel or note.channel, ts=result.ts, posted_at=at
                )
            if result.ok and result.channel:
                self.channel_ids[note.channel] = result.channel
            given_up = result.courtesy and (
                result.permanent or note.attempts + 1 >= MAX_COURTESY_ATTEMPTS
            )
            if result.ok or given_up:
                if result.ok:
                    self.sent += 1
                else:
                    log.warning(
                        "a chart was not drawn (%s); its notice goes on without it", result.error
                    )
                if not result.more:
                    return None
                note = note.model_copy(
                    update={
                        "parts_sent": note.parts_sent + 1,
                        "attempts": 0,
                        "last_error": None,
                        "maybe_sent": False,
                    }
                )
                continue
            if result.unreachable:
                self.skip_channels.add((note.target, note.channel))
                log.warning("%s refuses podmem (%s): its notices wait", note.channel, result.error)
            elif result.courtesy:
                self.skip_threads.add(key)  # its thread waits; the others go on
            elif result.permanent:
                self.dead += 1
                log.error(
                    "%s refused a notice for good (%s); kept as a dead letter: %s",
                    note.target,
                    result.error,
                    note.kind,
                )
            else:
                return result.error or "unknown error"
            return None


@dataclass(frozen=True, slots=True)
class _After(Generic[T]):
    """`then`, after writing the outcomes of the sends before it, in order."""

    outcomes: Sequence[_Recorder]
    then: Callable[[State], T]

    def __call__(self, state: State) -> T:
        for outcome in self.outcomes:
            outcome(state)
        return self.then(state)


@dataclass(frozen=True, slots=True)
class _Recorder:
    """Writes one send's outcome into the state and ends its claim (re-run on conflicts)."""

    note: Notification
    result: SendResult
    at: float
    holder: str
    tell: str | None

    def __call__(self, state: State) -> None:
        _record(state, self.note, self.result, self.at, self.holder)
        _unreachable(state, self.note, self.result, self.at, self.tell)


def _record(state: State, note: Notification, result: SendResult, at: float, holder: str) -> None:
    index = next((i for i, n in enumerate(state.outbox) if n.id == note.id), None)
    if index is None or state.outbox[index].parts_sent != note.parts_sent:
        return  # another drain recorded it already
    pending = state.outbox[index]
    if pending.claimed_by not in (None, holder):
        return  # our lease ran out and another drain took it: its outcome counts
    pending.claimed_by = pending.claimed_until = None
    if result.ok and result.posted and result.ts:
        state.messages[note.message_key] = MessageRef(
            channel=result.channel or note.channel, ts=result.ts, posted_at=at
        )
    skipped = result.courtesy and (
        result.permanent or pending.attempts + 1 >= MAX_COURTESY_ATTEMPTS
    )
    if result.ok or skipped:
        pending.maybe_sent = False
        if result.more:
            pending.parts_sent += 1
            pending.attempts, pending.last_error = 0, None
        else:
            state.outbox.pop(index)
    elif result.unreachable:
        pending.last_error = result.error  # waits, unaged, until the bot is invited
    elif result.permanent:
        failed = state.outbox.pop(index)
        failed.last_error = result.error
        state.dead_letters = [*state.dead_letters, failed][-DEAD_LETTERS_KEPT:]
    else:
        # The head waits for the next drain (next cycle): the SDK has already retried it.
        pending.attempts += 1
        pending.last_error = result.error
        pending.maybe_sent = pending.maybe_sent or result.uncertain


def _unreachable(
    state: State, note: Notification, result: SendResult, at: float, tell: str | None
) -> None:
    """A channel that refuses podmem is told about once, in the default channel; once it
    takes a notice again it is forgotten."""
    if note.target != "slack":
        return
    if result.ok:
        state.unreachable.pop(note.channel, None)
        return
    if not result.unreachable or note.channel in state.unreachable:
        return
    state.unreachable[note.channel] = at
    if tell is None or tell == note.channel:
        return
    state.outbox.append(
        Notification(
            id=state.new_id(),
            channel=tell,
            thread=f"notice/unreachable/{state.next_id}",
            notice=ChannelUnreachable(channel=note.channel, error=result.error or ""),
            created_at=at,
        )
    )
