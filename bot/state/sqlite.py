"""SQLite state store: one file, WAL, the document in one row, schema version checked."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bot.errors import StateError
from bot.state.document import Conflict, State, dump_state, load_state

# The table layout itself; the document inside has its own schema_version and migrations.
TABLES_VERSION = 1


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an outbox entry must survive a crash
            self._migrate()
        except (sqlite3.Error, OSError) as error:
            raise StateError(f"cannot open state file {path}: {error}") from None
        # One connection, shared by the scheduler's and the health server's threads.
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        (current,) = self._db.execute("PRAGMA user_version").fetchone()
        if current > TABLES_VERSION:
            raise StateError(f"{self.path} was written by a newer podmem; upgrade first")
        if current < 1:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS state ("
                " id INTEGER PRIMARY KEY CHECK (id = 1),"
                " version INTEGER NOT NULL,"
                " body TEXT NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version = {TABLES_VERSION}")

    def read(self) -> tuple[State, str]:
        with self._lock:
            row = self._db.execute("SELECT version, body FROM state WHERE id = 1").fetchone()
        if row is None:
            return State(), "0"
        return load_state(row[1]), str(row[0])

    def write(self, state: State, version: str) -> str:
        new = int(version) + 1
        body = dump_state(state)
        with self._lock:
            changed = self._write(body, version, new)
        if changed != 1:
            raise Conflict("state changed since it was read")
        return str(new)

    def _write(self, body: str, version: str, new: int) -> int:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            if version == "0":
                changed = self._db.execute(
                    "INSERT OR IGNORE INTO state (id, version, body) VALUES (1, ?, ?)", (new, body)
                ).rowcount
            else:
                changed = self._db.execute(
                    "UPDATE state SET version = ?, body = ? WHERE id = 1 AND version = ?",
                    (new, body, int(version)),
                ).rowcount
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StateError(f"cannot write state file {self.path}: {error}") from None
        return int(changed)

    def close(self) -> None:
        self._db.close()
