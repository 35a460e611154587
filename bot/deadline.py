"""A deadline for a whole piece of work (one check), seen by every request it makes.

Each PromQL request has its own timeout, but a check makes several rounds of them, and a
server that answers slowly but steadily (a byte at a time) never trips a read timeout. The
deadline bounds the whole: a request gets only the time left, and one that would run past it
fails. A context variable, so the slash commands sharing the same source in `podmem run` are
not bound by a check's deadline; pools that run a check's queries copy the context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("podmem_deadline", default=None)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Everything in the block, on this thread and in contexts copied from it, ends by then."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> tuple[float, float] | None:
    """(seconds left, the whole budget), or None outside any deadline."""
    found = _DEADLINE.get()
    if found is None:
        return None
    end, budget = found
    return end - time.monotonic(), budget
