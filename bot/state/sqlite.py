"""SQLite state store: one file, WAL, the document in one row, schema version checked.

A new file is built aside and linked into place whole, so a state file podmem made is never
empty: an empty or unreadable one is damage, and podmem stops with one line that says what
to do rather than start empty and say everything again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

from bot.errors import StateError
from bot.state.document import Conflict, Damaged, State, dump_state, load_state
from bot.state.store import LastWritten

# The table layout itself; the document inside has its own schema_version and migrations.
TABLES_VERSION = 1


def damaged(path: Path, what: str) -> StateError:
    """The one line for a state file podmem cannot read."""
    return StateError(
        f"state file {path} is damaged ({what}). podmem will not start empty over it: that "
        f"would post every open alert again and drop the notices waiting in it. Move it aside "
        f"to start fresh (mv {path} {path}.broken), or restore it from a backup"
    )


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _refuse_unwritable(path)
            _create(path)
            if path.stat().st_size == 0:
                raise damaged(path, "0 bytes: truncated")
            self._db = sqlite3.connect(
                path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an outbox entry must survive a crash
            self._migrate()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not _damage(error):
                raise StateError(f"cannot open state file {path}: {error}") from None
            raise damaged(path, str(error)) from None
        except OSError as error:
            raise StateError(f"cannot open state file {path}: {error}") from None
        # One connection, shared by the scheduler's and the health server's threads.
        self._lock = threading.Lock()
        self._written = LastWritten()

    def _migrate(self) -> None:
        (current,) = self._db.execute("PRAGMA user_version").fetchone()
        if current > TABLES_VERSION:
            raise StateError(f"{self.path} was written by a newer podmem; upgrade first")
        if current < 1:
            _tables(self._db)

    def read(self) -> tuple[State, str]:
        try:
            with self._lock:
                row = self._db.execute("SELECT version, body FROM state WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not _damage(error):
                raise StateError(f"cannot read state file {self.path}: {error}") from None
            raise damaged(self.path, str(error)) from None
        if row is None:
            return State(), "0"
        version = str(row[0])
        if (written := self._written.take(version)) is not None:
            return written, version
        try:
            return load_state(row[1]), version
        except Damaged as error:
            raise damaged(self.path, str(error)) from None

    def write(self, state: State, version: str) -> str:
        new = int(version) + 1
        body = dump_state(state)
        with self._lock:
            changed = self._write(body, version, new)
        if changed != 1:
            raise Conflict("state changed since it was read")
        self._written.keep(str(new), state)
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
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            hint = (
                ": the disk holding it is full. Free space there; podmem tries again at every "
                "check and loses nothing it recorded"
                if "full" in str(error)
                else ""
            )
            raise StateError(f"cannot write state file {self.path} ({error}){hint}") from None
        return int(changed)

    def close(self) -> None:
        self._db.close()


def _tables(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS state ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " version INTEGER NOT NULL,"
        " body TEXT NOT NULL)"
    )
    db.execute(f"PRAGMA user_version = {TABLES_VERSION}")


def _create(path: Path) -> None:
    """A new state file, built aside and linked into place: never seen half made."""
    if path.exists():
        return
    aside = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        db = sqlite3.connect(aside, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            _tables(db)
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another podmem made it first
            os.link(aside, path)
    finally:
        for leftover in (aside, Path(f"{aside}-wal"), Path(f"{aside}-shm")):
            leftover.unlink(missing_ok=True)


def _refuse_unwritable(path: Path) -> None:
    """SQLite in WAL mode writes `-wal` and `-shm` files beside the state: its own words for
    a read-only directory ("unable to open database file") do not say so."""
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StateError(
            f"cannot use state file {path}: its directory {path.parent} is read-only, and "
            f"podmem writes the file and its -wal and -shm journals there. Give podmem write "
            f"access to it, or set state_path (PODMEM_STATE_PATH) to a writable place"
        )


def _damage(error: sqlite3.OperationalError) -> bool:
    """Operational errors that mean the file is not what podmem wrote (a table gone)."""
    return "no such table" in str(error) or "no such column" in str(error)
