"""An in-process state store: for `podmem demo`, where nothing must outlive the run."""

from __future__ import annotations

import threading

from bot.state.document import Conflict, State, dump_state, load_state


class MemoryStore:
    def __init__(self) -> None:
        self._body: str | None = None
        self._version = 0
        self._lock = threading.Lock()

    def read(self) -> tuple[State, str]:
        with self._lock:
            return load_state(self._body), str(self._version)

    def write(self, state: State, version: str) -> str:
        with self._lock:
            if int(version) != self._version:
                raise Conflict("state changed since it was read")
            self._body, self._version = dump_state(state), self._version + 1
            return str(self._version)
