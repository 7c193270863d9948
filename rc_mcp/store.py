"""The local history: every message the tools have shown, and the checkpoints, in SQLite.

Deleted records from the server carry only ``_id`` and ``_deletedAt``; this store lets rc-mcp say
what a deleted message was and what an update changed. Each page is written in one transaction
(WAL journal), so a crash mid-sync loses at most the page in flight and never corrupts the file.
The directory is created owner-only (0700) and the database file is 0600.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from rc_mcp.models import Deletion, Message, to_ms

log = logging.getLogger(__name__)

FILE_NAME = "rc-mcp.sqlite3"
_PRUNE_EVERY = 500  # upserts between two size/age prunes
# How long a call waits for another process's write lock before giving up (seconds). A page is
# written in milliseconds, so this only runs out when something holds the file for long.
BUSY_TIMEOUT_S = 3.0

# Schema versions, stamped in the file's ``PRAGMA user_version``. _MIGRATIONS[n] takes a file from
# version n to n + 1 and runs in one transaction with the new stamp, so a file is always at exactly
# one version. To change the schema, append a step (never edit a released one). A file stamped
# higher than SCHEMA_VERSION was written by a newer rc-mcp and is refused untouched.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 → 1: the tables as they were before versioning. A file from then is unstamped (version 0)
    # and already has them: IF NOT EXISTS keeps its rows, and the step only stamps it.
    (
        """CREATE TABLE IF NOT EXISTS messages (
            account    TEXT NOT NULL,
            id         TEXT NOT NULL,
            room_id    TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            deleted_at INTEGER,
            body       TEXT NOT NULL,
            seen_at    INTEGER NOT NULL,
            PRIMARY KEY (account, id)
        )""",
        "CREATE INDEX IF NOT EXISTS messages_seen ON messages (seen_at)",
        """CREATE TABLE IF NOT EXISTS checkpoints (
            account       TEXT NOT NULL,
            room_id       TEXT NOT NULL,
            name          TEXT NOT NULL,
            updated_after INTEGER NOT NULL,
            deleted_after INTEGER NOT NULL,
            caught_up_at  INTEGER,
            version       INTEGER NOT NULL,
            saved_at      INTEGER NOT NULL,
            PRIMARY KEY (account, room_id, name)
        )""",
        """CREATE TABLE IF NOT EXISTS pending (
            account TEXT NOT NULL,
            room_id TEXT NOT NULL,
            name    TEXT NOT NULL,
            stream  TEXT NOT NULL,
            seq     INTEGER NOT NULL,
            body    TEXT NOT NULL,
            PRIMARY KEY (account, room_id, name, stream, seq)
        )""",
        """CREATE TABLE IF NOT EXISTS rooms (
            account TEXT NOT NULL,
            id      TEXT NOT NULL,
            name    TEXT,
            PRIMARY KEY (account, id)
        )""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


@dataclass(frozen=True)
class Checkpoint:
    """Where each stream of a room was last read to (server timestamps, ms), per checkpoint name."""

    room_id: str
    name: str
    updated_after: int
    deleted_after: int
    caught_up_at: int | None  # server time of the newest change seen when both streams were read to the end
    version: int


class CheckpointConflict(Exception):
    """Another call advanced the checkpoint while this one was reading."""


class StoreError(Exception):
    """The local history could not be read or written. The message is one plain sentence for a user
    (no paths, no message content); the SQLite or OS error is its ``__cause__``."""


class MessageStore:
    """SQLite-backed history for one account (server URL + user id)."""

    def __init__(self, path: Path, account: str, *, max_messages: int, max_age_days: int) -> None:
        """Open the history at ``path``, creating or migrating it as needed. Raises StoreError, whose
        message says why the file cannot be used; ``open_store`` is the caller that never raises."""
        self.path = path
        self._account = account
        self._max_messages = max_messages
        self._max_age_ms = max_age_days * 86_400_000
        self._lock = threading.Lock()
        self._writes = 0
        try:
            _prepare(path)
            self._db = _connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise _unusable(path, exc) from exc
        try:
            self.prune()
        except StoreError as exc:
            self._db.close()
            cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error | OSError) else exc
            raise _unusable(path, cause) from cause

    def close(self) -> None:
        """Close the file; never raises (a failure is only logged: every page was already committed)."""
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error as exc:
                log.warning("local history: closing failed: %s", _reason(exc))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; on any failure (a full disk included) it is rolled back whole and a
        SQLite or OS error comes out as StoreError. Other exceptions (CheckpointConflict) pass as they are."""
        # BEGIN IMMEDIATE takes the write lock up front, so two processes never interleave a page.
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise _fault("saved", exc) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error | OSError):
                    raise _fault("saved", exc) from exc
                raise

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY can),
        # and a failed COMMIT leaves the transaction open: end it either way so the next call can begin.
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("local history: rollback failed: %s", _reason(exc))

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads; a SQLite or OS error, or a stored row that no longer parses,
        comes out as StoreError."""
        with self._lock:
            try:
                yield self._db
            except (sqlite3.Error, OSError, ValidationError) as exc:
                raise _fault("read", exc) from exc

    # --- messages -------------------------------------------------------------------------------

    def known(self, ids: Iterable[str]) -> dict[str, Message]:
        """The stored copies of these messages (deleted ones included)."""
        wanted = list(ids)
        found: dict[str, Message] = {}
        with self._reading() as db:
            for chunk in _chunks(wanted, 500):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT id, body FROM messages WHERE account = ? AND id IN ({marks})",
                    [self._account, *chunk],
                ).fetchall()
                found.update((row[0], Message.model_validate_json(row[1])) for row in rows)
        return found

    def record(self, messages: Iterable[Message] = (), deletions: Iterable[Deletion] = ()) -> None:
        """Upsert shown messages and mark shown deletions, all in one transaction (StoreError if it
        could not be saved: then nothing of it was)."""
        messages, deletions = list(messages), list(deletions)
        with self._transaction() as db:
            _upsert(db, self._account, messages, deletions)
        self._writes += len(messages) + len(deletions)
        if self._writes >= _PRUNE_EVERY:
            self._writes = 0
            try:
                self.prune()
            except StoreError as exc:  # the page is saved; trimming is tried again after the next _PRUNE_EVERY
                log.warning("%s", exc)

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
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])

    # --- checkpoints ----------------------------------------------------------------------------

    def checkpoint(self, room_id: str, name: str) -> Checkpoint | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT updated_after, deleted_after, caught_up_at, version FROM checkpoints "
                "WHERE account = ? AND room_id = ? AND name = ?",
                (self._account, room_id, name),
            ).fetchone()
        return Checkpoint(room_id, name, row[0], row[1], row[2], row[3]) if row else None

    def pending(self, room_id: str, name: str) -> tuple[list[Message], list[Deletion]]:
        """Items a catch-up fetched but has not shown yet, in stream order."""
        with self._reading() as db:
            rows = db.execute(
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
        with self._reading() as db:
            row = db.execute("SELECT name FROM rooms WHERE account = ? AND id = ?", (self._account, room_id)).fetchone()
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


_PLAIN = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_BUSY: "another process holds the database locked",
    sqlite3.SQLITE_LOCKED: "another process holds the database locked",
    sqlite3.SQLITE_READONLY: "the database file is read-only",
    sqlite3.SQLITE_CORRUPT: "the database file is damaged",
    sqlite3.SQLITE_NOTADB: "the file is not a SQLite database",
    sqlite3.SQLITE_IOERR: "the disk reported an input/output error",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_PERM: "permission was denied",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory",
}


def _reason(exc: BaseException) -> str:
    """A short plain phrase for an error, without paths or data: SQLite's primary result code,
    the OS errno, or the kind of error."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _PLAIN:
            return _PLAIN[code & 0xFF]
        return str(exc).rstrip(".") or type(exc).__name__  # SQLite's own messages name no paths or values
    if isinstance(exc, OSError) and exc.errno is not None:
        return os.strerror(exc.errno).lower()  # str(exc) would carry the file name
    if isinstance(exc, ValidationError):
        return "a stored entry no longer matches this version's format"
    return type(exc).__name__


def _fault(doing: str, exc: BaseException) -> StoreError:
    return StoreError(f"local history could not be {doing}: {_reason(exc)}")


def _now() -> int:
    return int(time.time() * 1000)


def _prepare(path: Path) -> None:
    """Create what is missing: directories 0700 and the file 0600, from their first byte. Only what
    this call creates is chmodded; anything that exists keeps its mode (through a symlink: the
    target's), because it is the user's to decide. StoreError when the place cannot hold the file."""
    directory = path.parent
    missing: list[Path] = []
    ancestor = directory
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, 0o700)
        except FileExistsError:
            continue  # made by another process meanwhile: not ours to chmod
        except OSError as exc:
            raise StoreError(f"{new} cannot be created: {_reason(exc)}") from exc
        os.chmod(new, 0o700)  # mkdir's mode is cut by the umask; this one is exact
    if not directory.is_dir():
        what = "a file" if directory.is_file() else "something else (a broken link?)"
        raise StoreError(f"{directory} is {what}, not a directory")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        return  # an existing file (or a symlink to one) is used as it is
    except OSError as exc:
        raise StoreError(f"{path} cannot be created: {_reason(exc)}") from exc
    os.close(fd)
    os.chmod(path, 0o600)  # SQLite gives the -wal and -shm files the database file's mode


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a checked, current file. Order matters: the version is read before anything
    could write (a newer file is refused untouched), and the integrity check before any migration."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        version = _user_version(db)
        if version > SCHEMA_VERSION:
            raise _too_new(path, version)
        verdict = [row[0] for row in db.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            raise _Damaged(path, "is damaged (SQLite's integrity check failed)")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        _migrate(db, path, version)
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Take the file forward one version at a time, each step with its stamp in one transaction."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            now = _user_version(db)  # another process may have migrated it since we looked
            if now > SCHEMA_VERSION:
                raise _too_new(path, now)
            if now < target:
                for statement in _MIGRATIONS[target - 1]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target:d}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


class _Damaged(StoreError):
    """The file is not a usable SQLite database: ``open_store`` moves it aside and starts afresh."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path} {what}")
        self.what = what


def _too_new(path: Path, version: int) -> StoreError:
    return StoreError(
        f"{path} has schema version {version} but this rc-mcp knows versions up to {SCHEMA_VERSION} "
        "(a newer rc-mcp wrote it); the file was left untouched"
    )


def _unusable(path: Path, exc: BaseException) -> StoreError:
    """Why the file cannot be opened, as a StoreError (a _Damaged one when the file itself is bad)."""
    if isinstance(exc, StoreError):
        return exc
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_NOTADB:
        return _Damaged(path, "is not a SQLite database")
    if code == sqlite3.SQLITE_CORRUPT:
        return _Damaged(path, "is damaged (database disk image is malformed)")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"{path} is locked by another process (waited {BUSY_TIMEOUT_S:g} s)")
    if code == sqlite3.SQLITE_FULL:
        return StoreError(f"the disk holding {path} is full")
    return StoreError(f"{path} cannot be used: {_reason(exc)}")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
