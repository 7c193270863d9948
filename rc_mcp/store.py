"""The local history: every message the tools have shown, and the checkpoints, in SQLite.

Deleted records from the server carry only ``_id`` and ``_deletedAt``; this store lets rc-mcp say
what a deleted message was and what an update changed. Each page is written in one transaction
(WAL journal), so a crash mid-sync loses at most the page in flight and never corrupts the file.
The directory is created owner-only (0700) and the database file is 0600.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rc_mcp.models import Deletion, Message
from rc_mcp.times import to_ms

FILE_NAME = "rc-mcp.sqlite3"
_PRUNE_EVERY = 500  # upserts between two size/age prunes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    account    TEXT NOT NULL,
    id         TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,
    body       TEXT NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (account, id)
);
CREATE INDEX IF NOT EXISTS messages_seen ON messages (seen_at);
CREATE TABLE IF NOT EXISTS checkpoints (
    account       TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    updated_after INTEGER NOT NULL,
    deleted_after INTEGER NOT NULL,
    caught_up_at  INTEGER,
    version       INTEGER NOT NULL,
    saved_at      INTEGER NOT NULL,
    PRIMARY KEY (account, room_id, name)
);
CREATE TABLE IF NOT EXISTS pending (
    account TEXT NOT NULL,
    room_id TEXT NOT NULL,
    name    TEXT NOT NULL,
    stream  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (account, room_id, name, stream, seq)
);
CREATE TABLE IF NOT EXISTS rooms (
    account TEXT NOT NULL,
    id      TEXT NOT NULL,
    name    TEXT,
    PRIMARY KEY (account, id)
);
"""


@dataclass(frozen=True)
class Checkpoint:
    """Where each stream of a room was last read to (server timestamps, ms), per checkpoint name."""

    room_id: str
    name: str
    updated_after: int
    deleted_after: int
    caught_up_at: int | None  # server time of the newest change seen when both streams were read to the end
    version: int


class StoreError(Exception):
    """The local history could not be read or written."""


class CheckpointConflict(Exception):
    """Another call advanced the checkpoint while this one was reading."""


class MessageStore:
    """SQLite-backed history for one account (server URL + user id)."""

    def __init__(self, path: Path, account: str, *, max_messages: int, max_age_days: int) -> None:
        self.path = path
        self._account = account
        self._max_messages = max_messages
        self._max_age_ms = max_age_days * 86_400_000
        self._lock = threading.Lock()
        self._writes = 0
        _prepare(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.prune()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two processes never interleave a page.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- messages -------------------------------------------------------------------------------

    def known(self, ids: Iterable[str]) -> dict[str, Message]:
        """The stored copies of these messages (deleted ones included)."""
        wanted = list(ids)
        found: dict[str, Message] = {}
        with self._lock:
            for chunk in _chunks(wanted, 500):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, body FROM messages WHERE account = ? AND id IN ({marks})",
                    [self._account, *chunk],
                ).fetchall()
                found.update((row[0], Message.model_validate_json(row[1])) for row in rows)
        return found

    def record(self, messages: Iterable[Message] = (), deletions: Iterable[Deletion] = ()) -> None:
        """Upsert shown messages and mark shown deletions, all in one transaction."""
        messages, deletions = list(messages), list(deletions)
        with self._transaction() as db:
            _upsert(db, self._account, messages, deletions)
        self._writes += len(messages) + len(deletions)
        if self._writes >= _PRUNE_EVERY:
            self._writes = 0
            self.prune()

    def prune(self) -> None:
        """Keep the store bounded: drop entries older than the age cap, then the least recently seen."""
        cutoff = int(time.time() * 1000) - self._max_age_ms
        with self._transaction() as db:
            db.execute("DELETE FROM messages WHERE seen_at < ?", (cutoff,))
            db.execute(
                "DELETE FROM messages WHERE rowid IN "
                "(SELECT rowid FROM messages ORDER BY seen_at DESC LIMIT -1 OFFSET ?)",
                (self._max_messages,),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    # --- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self, room_id: str, name: str) -> Checkpoint | None:
        with self._lock:
            row = self._db.execute(
                "SELECT updated_after, deleted_after, caught_up_at, version FROM checkpoints "
                "WHERE account = ? AND room_id = ? AND name = ?",
                (self._account, room_id, name),
            ).fetchone()
        return Checkpoint(room_id, name, row[0], row[1], row[2], row[3]) if row else None

    def pending(self, room_id: str, name: str) -> tuple[list[Message], list[Deletion]]:
        """Items a catch-up fetched but has not shown yet, in stream order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stream, body FROM pending WHERE account = ? AND room_id = ? AND name = ? ORDER BY stream, seq",
                (self._account, room_id, name),
            ).fetchall()
        messages = [Message.model_validate_json(body) for stream, body in rows if stream == "updated"]
        deletions = [Deletion.model_validate_json(body) for stream, body in rows if stream == "deleted"]
        return messages, deletions

    def save_checkpoint(
        self,
        previous: Checkpoint | None,
        *,
        room_id: str,
        name: str,
        updated_after: int,
        deleted_after: int,
        caught_up_at: int | None,
        messages: Iterable[Message] = (),
        deletions: Iterable[Deletion] = (),
        pending_messages: Iterable[Message] = (),
        pending_deletions: Iterable[Deletion] = (),
    ) -> Checkpoint:
        """Advance a checkpoint from ``previous`` (compare-and-set), with the page it showed and the
        items it fetched but did not show, in one transaction."""
        version = previous.version + 1 if previous else 1
        with self._transaction() as db:
            current = db.execute(
                "SELECT version FROM checkpoints WHERE account = ? AND room_id = ? AND name = ?",
                (self._account, room_id, name),
            ).fetchone()
            if (current[0] if current else None) != (previous.version if previous else None):
                raise CheckpointConflict(name)
            db.execute(
                "INSERT INTO checkpoints (account, room_id, name, updated_after, deleted_after, caught_up_at, "
                "version, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, room_id, name) DO UPDATE "
                "SET updated_after = excluded.updated_after, deleted_after = excluded.deleted_after, "
                "caught_up_at = excluded.caught_up_at, version = excluded.version, saved_at = excluded.saved_at",
                (self._account, room_id, name, updated_after, deleted_after, caught_up_at, version, _now()),
            )
            _upsert(db, self._account, messages, deletions)
            key = (self._account, room_id, name)
            db.execute("DELETE FROM pending WHERE account = ? AND room_id = ? AND name = ?", key)
            db.executemany(
                "INSERT INTO pending (account, room_id, name, stream, seq, body) VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, "updated", i, m.model_dump_json(exclude={"change"})) for i, m in enumerate(pending_messages)]
                + [(*key, "deleted", i, d.model_dump_json()) for i, d in enumerate(pending_deletions)],
            )
        return Checkpoint(room_id, name, updated_after, deleted_after, caught_up_at, version)

    # --- room names -----------------------------------------------------------------------------

    def room_name(self, room_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name FROM rooms WHERE account = ? AND id = ?", (self._account, room_id)
            ).fetchone()
        return row[0] if row else None

    def remember_room(self, room_id: str, name: str | None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO rooms (account, id, name) VALUES (?, ?, ?) "
                "ON CONFLICT (account, id) DO UPDATE SET name = excluded.name",
                (self._account, room_id, name),
            )


def _upsert(db: sqlite3.Connection, account: str, messages: Iterable[Message], deletions: Iterable[Deletion]) -> None:
    now = _now()
    db.executemany(
        "INSERT INTO messages (account, id, room_id, updated_at, body, seen_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (account, id) DO UPDATE SET room_id = excluded.room_id, "
        "updated_at = excluded.updated_at, body = excluded.body, seen_at = excluded.seen_at",
        [(account, m.id, m.room_id, to_ms(m.updated_at), m.model_dump_json(exclude={"change"}), now) for m in messages],
    )
    db.executemany(
        "UPDATE messages SET deleted_at = ?, seen_at = ? WHERE account = ? AND id = ?",
        [(to_ms(d.deleted_at), now, account, d.id) for d in deletions],
    )


def _now() -> int:
    return int(time.time() * 1000)


def _prepare(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    # Create the file ourselves so it is owner-only from its first byte (sqlite follows the mode).
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
