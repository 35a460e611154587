"""Claims on notices: a drain takes a lease on the notices it is about to send, in the state
and under its optimistic concurrency, so two drains (two `check --once` on one file, two
replicas on one ConfigMap) never send the same notice.

A claim names its holder as host/pid/process-token/drain-token. It ends when its holder
records the outcome, when its lease runs out, or at once when the holder is seen dead (same
host, and no such process, or the same pid under another process token: a restarted
container). A claim that ended without an outcome may have been sent: the notice is marked
`maybe_sent`, and the next attempt looks for it before posting again.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass

from bot.state.document import MessageRef, Notification, State

_HOST = socket.gethostname()
_PROCESS = uuid.uuid4().hex[:8]


# The drains running in this process now: a claim of one that ended (its last write failed:
# a full disk) is dead at once, not at the end of its lease.
_ACTIVE: set[str] = set()


@contextmanager
def holding() -> Iterator[str]:
    """A name for one drain, live while the block runs: unique even between drains of one
    process (check and digest)."""
    holder = f"{_HOST}/{os.getpid()}/{_PROCESS}/{uuid.uuid4().hex[:8]}"
    _ACTIVE.add(holder)
    try:
        yield holder
    finally:
        _ACTIVE.discard(holder)


def holder_alive(holder: str) -> bool:
    """Whether a claim's holder may still be sending. Other hosts: trust the lease."""
    host, _, rest = holder.partition("/")
    pid_text, _, rest = rest.partition("/")
    process = rest.partition("/")[0]
    if host != _HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return process == _PROCESS and holder in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class Taken:
    """One notice now ours, with where its thread's first post went (if it went) and Slack's
    ID of its channel (if known)."""

    note: Notification
    message: MessageRef | None = None
    channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a claim found: the notices now ours, in order (none: nothing this drain may
    send); `held` when another live drain holds the next notice in order."""

    taken: tuple[Taken, ...] = ()
    held: bool = False
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """Claims the next `count` notices in order that this drain may send (re-run on
    conflicts), after giving back whatever this drain still held: a notice claimed before
    and not sent (its channel or thread had to wait) is free again.

    `skip_channels`: destinations that refused this drain (not invited): their notices wait,
    the rest go on. `skip_threads`: threads whose head is a chart that cannot be drawn now:
    what follows in that thread waits, other threads go on (the degraded notice among them).
    A notice held by another live drain ends the claim: the notices after it wait their turn.
    """

    holder: str
    at: float
    lease_seconds: float
    skip_channels: Set[tuple[str, str]]
    skip_threads: Set[str]
    count: int = 1

    def __call__(self, state: State) -> Claimed:
        release(state, self.holder)
        taken: list[Taken] = []
        for note in state.outbox:
            if len(taken) == self.count:
                break
            if (note.target, note.channel) in self.skip_channels:
                continue
            if note.message_key in self.skip_threads:
                continue
            if note.claimed_by is not None:
                live = note.claimed_until is not None and note.claimed_until > self.at
                if live and holder_alive(note.claimed_by):
                    return Claimed(tuple(taken), held=not taken, pending=len(state.outbox))
                note.maybe_sent = True  # its holder is gone: it may have sent it
            note.claimed_by, note.claimed_until = self.holder, self.at + self.lease_seconds
            taken.append(
                Taken(note.model_copy(), state.message_for(note), _channel_id(state, note))
            )
        return Claimed(tuple(taken), pending=len(state.outbox))


def release(state: State, holder: str) -> None:
    """Gives back every claim of one drain (it stops early: shutdown, an error)."""
    for note in state.outbox:
        if note.claimed_by == holder:
            note.claimed_by = note.claimed_until = None


def _channel_id(state: State, note: Notification) -> str | None:
    """Slack's ID of a notice's channel, from any message podmem posted there (Slack answers
    a post with the ID; routes may name the channel)."""
    prefix = f"{note.channel} "
    return next((m.channel for k, m in state.messages.items() if k.startswith(prefix)), None)
