"""The store interface and the read-modify-write loop both stores share."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from bot.errors import StateError
from bot.state.document import Conflict, State

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ATTEMPTS = 20


class StateStore(Protocol):
    def read(self) -> tuple[State, str]:
        """The state and an opaque version for `write`."""
        ...

    def write(self, state: State, version: str) -> str:
        """Write if nobody wrote since `version` was read, else raise Conflict."""
        ...


def transact(store: StateStore, change: Callable[[State], T]) -> T:
    """Apply `change` to the freshest state and write it, retrying on conflicts.

    `change` mutates the State it is given and may run several times: keep it free of I/O.
    """
    for attempt in range(MAX_ATTEMPTS):
        state, version = store.read()
        result = change(state)
        try:
            store.write(state, version)
        except Conflict:
            # Jittered pause: writers that collided must not collide again in lock-step.
            log.debug("state write conflict; retrying")
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # noqa: S311
            continue
        return result
    raise StateError(f"state kept changing under us: {MAX_ATTEMPTS} conflicting writes")
