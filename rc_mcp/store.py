"""The local history: every message the tools have shown, and the checkpoints, in SQLite.

Deleted records from the server carry only ``_id`` and ``_deletedAt``; this store lets rc-mcp say
what a deleted message was and what an update changed. Each page is written in one transaction
(WAL journal), so a crash or a full disk mid-sync loses at most the page in flight and never
corrupts the file.

``HistoryStore`` is what the rest of rc-mcp uses; ``MessageStore`` is its SQLite implementation (another
backend, e.g. PostgreSQL, would be a module of its own implementing the same protocol). Start with
``open_store``: a fault in local state never stops the server. It answers a ``StoreOpening``: the
store, or None when history is off for this run, and a plain sentence when something is wrong.

* A damaged file (not a database, truncated, failing ``PRAGMA quick_check``) is renamed to
  ``rc-mcp.sqlite3.corrupt-<UTC time>`` with its -wal/-shm, never deleted, and a new one is started.
* A file stamped with a newer schema (``PRAGMA user_version`` above ``SCHEMA_VERSION``) is refused
  untouched; an older one is migrated forward, one transaction per version (``_MIGRATIONS``).
* A locked file (another process), an unusable directory, a full disk: history is off for this run;
  no call waits more than ``BUSY_TIMEOUT_S`` for a lock.
* After opening, reads and writes raise ``StoreError`` (one sentence, no paths) instead of SQLite or
  OS errors, so callers can degrade; a failed write is rolled back whole. ``CheckpointConflict``
  stays apart: it is a lost race, not a fault.

Search (schema 2): every kept message is indexed in SQLite FTS5 (text, author, display name, alias,
attachments, file names and captions), kept in step with ``messages`` by triggers, so upserts and
prunes need no code of their own. Users' queries are words and "quoted phrases", never FTS5 syntax.
Without FTS5 in this Python's SQLite the history works and only searching raises StoreError.

Workspace catch-up (schema 2): a position per workspace checkpoint and per room in it, saved with
compare-and-set like the checkpoints.

Modes: the directories and the file that rc-mcp creates are owner-only (0700, 0600; SQLite gives
-wal and -shm the file's mode). What exists already is not chmodded, symlink targets included; the
opening notes a file other users can read or a directory they can write.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sqlite3
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from pydantic import ValidationError

from rc_mcp.models import Deletion, Message
from rc_mcp.times import to_ms

log = logging.getLogger(__name__)

FILE_NAME = "rc-mcp.sqlite3"
_PRUNE_EVERY = 500  # upserts between two size/age prunes
# How long a call waits for another process's write lock before giving up (seconds). A page is
# written in milliseconds, so this only runs out when something holds the file for long.
BUSY_TIMEOUT_S = 3.0

# A step of a migration: a SQL statement, or a function for what SQL cannot do (computing columns
# from a message's JSON in Python). Both run inside the step's transaction.
_Step: TypeAlias = str | Callable[[sqlite3.Connection], None]

# Schema versions, stamped in the file's ``PRAGMA user_version``. _MIGRATIONS[n] takes a file from
# version n to n + 1 and runs in one transaction with the new stamp, so a file is always at exactly
# one version. To change the schema, append a step (never edit a released one). A file stamped
# higher than SCHEMA_VERSION was written by a newer rc-mcp and is refused untouched.
_MIGRATIONS: tuple[tuple[_Step, ...], ...] = (
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
    # 1 → 2: search, and workspace catch-up state.
    # messages is rebuilt with an explicit INTEGER PRIMARY KEY (seq): the search index refers to rows
    # by rowid, and VACUUM may renumber an implicit rowid, which would point the index at other rows.
    # The search_* columns are what the index holds, computed in Python by _upsert (_search_columns);
    # the copy computes them for the rows already there (one pass: each row is written once), then the
    # index is built from them.
    (
        "DROP INDEX IF EXISTS messages_seen",
        "ALTER TABLE messages RENAME TO messages_v1",
        """CREATE TABLE messages (
            seq           INTEGER PRIMARY KEY,
            account       TEXT NOT NULL,
            id            TEXT NOT NULL,
            room_id       TEXT NOT NULL,
            updated_at    INTEGER NOT NULL,
            deleted_at    INTEGER,
            body          TEXT NOT NULL,
            seen_at       INTEGER NOT NULL,
            search_text   TEXT NOT NULL DEFAULT '',
            search_people TEXT NOT NULL DEFAULT '',
            search_more   TEXT NOT NULL DEFAULT '',
            UNIQUE (account, id)
        )""",
        lambda db: _copy_with_search_columns(db, "messages_v1"),
        "DROP TABLE messages_v1",
        "CREATE INDEX messages_seen ON messages (seen_at)",
        lambda db: _create_search_index(db),
        """CREATE TABLE workspaces (
            account      TEXT NOT NULL,
            name         TEXT NOT NULL,
            first_at     INTEGER NOT NULL,
            sweep_cursor TEXT NOT NULL,
            swept_at     INTEGER,
            version      INTEGER NOT NULL,
            saved_at     INTEGER NOT NULL,
            PRIMARY KEY (account, name)
        )""",
        """CREATE TABLE workspace_rooms (
            account       TEXT NOT NULL,
            workspace     TEXT NOT NULL,
            room_id       TEXT NOT NULL,
            seen_activity INTEGER NOT NULL,
            swept_at      INTEGER,
            PRIMARY KEY (account, workspace, room_id)
        )""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

# How the search index cuts text into words: letters and digits, case and accents folded.
_TOKENIZER = "unicode61 remove_diacritics 2"

# The search index over messages (schema 2): external content (the text lives only in messages),
# kept in step by triggers. An update that leaves the indexed columns as they were (the same message
# seen again, a deletion marked) does not touch the index. Created by migration 2, or later by
# _ensure_search when this Python's SQLite had no FTS5 at the time.
_SEARCH_INDEX: tuple[str, ...] = (
    "CREATE VIRTUAL TABLE message_search USING fts5(search_text, search_people, search_more, "
    f"content='messages', content_rowid='seq', tokenize='{_TOKENIZER}')",
    """CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_search (rowid, search_text, search_people, search_more)
        VALUES (new.seq, new.search_text, new.search_people, new.search_more);
    END""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO message_search (message_search, rowid, search_text, search_people, search_more)
        VALUES ('delete', old.seq, old.search_text, old.search_people, old.search_more);
    END""",
    """CREATE TRIGGER message_search_update AFTER UPDATE OF seq, search_text, search_people, search_more ON messages
    WHEN old.seq IS NOT new.seq OR old.search_text IS NOT new.search_text
        OR old.search_people IS NOT new.search_people OR old.search_more IS NOT new.search_more
    BEGIN
        INSERT INTO message_search (message_search, rowid, search_text, search_people, search_more)
        VALUES ('delete', old.seq, old.search_text, old.search_people, old.search_more);
        INSERT INTO message_search (rowid, search_text, search_people, search_more)
        VALUES (new.seq, new.search_text, new.search_people, new.search_more);
    END""",
    "INSERT INTO message_search (message_search) VALUES ('rebuild')",
)
_SEARCH_TRIGGERS = ("message_search_insert", "message_search_delete", "message_search_update")


@dataclass(frozen=True)
class Checkpoint:
    """Where each stream of a room was last read to (server timestamps, ms), per checkpoint name."""

    room_id: str
    name: str
    updated_after: int
    deleted_after: int
    caught_up_at: int | None  # server time of the newest change seen when both streams were read to the end
    version: int


@dataclass(frozen=True)
class SearchHit:
    """A message the search found, as rc-mcp last saw it; ``deleted_at`` (server time, ms) is set when
    rc-mcp saw it deleted: then the message is what it was before."""

    message: Message
    deleted_at: int | None


@dataclass(frozen=True)
class SearchSpan:
    """What a search looks through, for this account: the messages rc-mcp has seen and still keeps,
    when it saw the oldest of them (local time, ms; None when there are none), and the rooms they are
    in, with the names the history knows (else None)."""

    messages: int
    oldest_seen_at: int | None
    rooms: dict[str, str | None]


@dataclass(frozen=True)
class WorkspaceRoom:
    """One room's position in a workspace checkpoint (server times, ms)."""

    seen_activity: int  # the room's activity stamp that was last read to the end
    swept_at: int | None  # when the sweep of quiet rooms last looked at this room


@dataclass(frozen=True)
class WorkspaceState:
    """A workspace checkpoint: where a room's first look starts, where the round-robin sweep of quiet
    rooms goes on, when the whole workspace was last swept, and each room's position."""

    name: str
    first_at: int
    sweep_cursor: str  # the room id where the sweep continues ("" for the start)
    swept_at: int | None
    version: int
    rooms: dict[str, WorkspaceRoom]


class CheckpointConflict(Exception):
    """Another call advanced the checkpoint (or the workspace checkpoint) while this one was reading."""


class StoreError(Exception):
    """The local history could not be opened, read or written. The message is one plain sentence for
    a user, never with message content or the account: from a read or write it names no path, from
    opening it names only this history's own file or directory. The SQLite or OS error is its
    ``__cause__``."""


@runtime_checkable
class HistoryStore(Protocol):
    """The local history as the rest of rc-mcp uses it, for one account. Every method raises
    StoreError for a fault in the backend (then a write has changed nothing); ``save_checkpoint``
    also raises CheckpointConflict when another call advanced the checkpoint first."""

    def known(self, ids: Iterable[str]) -> dict[str, Message]:
        """The stored copies of these messages (deleted ones included)."""
        ...

    def record(self, messages: Iterable[Message] = (), deletions: Iterable[Deletion] = ()) -> None:
        """Upsert shown messages and mark shown deletions, all or nothing."""
        ...

    def prune(self) -> None:
        """Apply the size and age caps."""
        ...

    def count(self) -> int:
        """How many messages are kept (all accounts)."""
        ...

    def checkpoint(self, room_id: str, name: str) -> Checkpoint | None: ...

    def pending(self, room_id: str, name: str) -> tuple[list[Message], list[Deletion]]:
        """Items a catch-up fetched but has not shown yet, in stream order."""
        ...

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
        """Compare-and-set from ``previous``, with the shown page and the pending items, all or nothing."""
        ...

    def room_name(self, room_id: str) -> str | None: ...

    def remember_room(self, room_id: str, name: str | None) -> None: ...

    def search(self, query: str, *, room_id: str | None = None, limit: int = 50, offset: int = 0) -> list[SearchHit]:
        """This account's kept messages (deleted ones included) matching every word and "quoted phrase"
        of ``query``, best match first (newest first among equals). ValueError for a query without
        words or a bad limit/offset; StoreError also when this backend cannot search."""
        ...

    def search_span(self) -> SearchSpan:
        """What ``search`` looks through for this account."""
        ...

    def workspace(self, name: str) -> WorkspaceState | None: ...

    def save_workspace(
        self,
        previous: WorkspaceState | None,
        *,
        name: str,
        first_at: int,
        sweep_cursor: str,
        swept_at: int | None,
        rooms: dict[str, WorkspaceRoom],
    ) -> WorkspaceState:
        """Compare-and-set from ``previous`` (CheckpointConflict when another call saved first),
        upserting the given rooms (others are kept), all or nothing."""
        ...

    def close(self) -> None:
        """Release the backend; never raises."""
        ...


@dataclass(frozen=True)
class StoreOpening:
    """What ``open_store`` found: the store (None when history is off for this run) and, when
    something is wrong, one plain sentence for the user saying what and what rc-mcp did about it."""

    store: MessageStore | None
    problem: str | None = None


def open_store(path: Path, account: str, *, max_messages: int, max_age_days: int) -> StoreOpening:
    """Open the history at ``path`` for ``account``; never raises for a fault in local state.

    A damaged file is moved aside (never deleted) and a new one started; a newer schema is refused
    untouched; a locked file, an unusable directory, a full disk turn history off for this run.
    """

    def attempt() -> MessageStore:
        return MessageStore(path, account, max_messages=max_messages, max_age_days=max_age_days)

    try:
        store = attempt()
    except _Damaged as damaged:
        try:
            aside = _move_aside(path)
        except OSError as exc:
            return StoreOpening(
                None, f"local history is off for this run: {damaged}, and it could not be moved aside ({_reason(exc)})"
            )
        try:
            store = attempt()
        except StoreError as exc:
            return StoreOpening(
                None,
                f"local history is off for this run: {damaged}; it was moved aside to {aside}, "
                f"but a new one could not be started ({exc})",
            )
        log.warning("local history: %s; moved aside to %s", damaged, aside)
        return StoreOpening(
            store, f"local history starts empty: {damaged}; it was moved aside to {aside} and a new one was started"
        )
    except StoreError as exc:
        return StoreOpening(None, f"local history is off for this run: {exc}")
    return StoreOpening(store, _exposure(path))


class MessageStore:
    """SQLite-backed history for one account (server URL + user id). Satisfies ``HistoryStore``."""

    def __init__(self, path: Path, account: str, *, max_messages: int, max_age_days: int) -> None:
        """Open the history at ``path``, creating or migrating it as needed. Raises StoreError, whose
        message says why the file cannot be used; ``open_store`` is the caller that never raises."""
        self.path = path
        self._account = account
        self._max_messages = max_messages
        self._max_age_ms = max_age_days * 86_400_000
        self._lock = threading.Lock()
        self._writes = 0
        self._commits = 0  # this connection's; PRAGMA data_version counts the other connections'
        self._span: tuple[tuple[int, int], SearchSpan] | None = None
        self._probe: sqlite3.Connection | None = None  # see _words
        try:
            _prepare(path)
            self._db, self._searchable = _connect(path)
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
            for db in (self._db, self._probe):
                try:
                    if db is not None:
                        db.close()
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
                self._commits += 1
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

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Like ``_reading``, for reads that must agree with each other: one read transaction, so
        another process's write lands before or after all of them."""
        with self._reading() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                self._rollback()  # a read transaction: nothing to keep

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
        self._wrote(len(messages) + len(deletions))

    def _wrote(self, upserts: int) -> None:
        """Count upserts to messages and apply the caps every _PRUNE_EVERY of them: every path that
        upserts calls this (record, save_checkpoint), else a server used only one way would be pruned
        only at its next start. Pruning touches only messages, never checkpoints or pending items."""
        with self._lock:  # record and save_checkpoint run in worker threads, possibly at once
            self._writes += upserts
            due = self._writes >= _PRUNE_EVERY
            if due:
                self._writes = 0
        if due:
            try:
                self.prune()
            except StoreError as exc:  # the page is saved; trimming is tried again after the next _PRUNE_EVERY
                log.warning("%s", exc)

    def prune(self) -> None:
        """Keep the store bounded: drop entries older than the age cap, then the least recently seen."""
        cutoff = _now() - self._max_age_ms
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

    # --- search ---------------------------------------------------------------------------------

    def search(self, query: str, *, room_id: str | None = None, limit: int = 50, offset: int = 0) -> list[SearchHit]:
        """This account's kept messages (deleted ones included, with their recalled text) that match
        every word and "quoted phrase" of ``query``, case and accents ignored; in ``room_id`` only when
        given. Best match first (bm25), newest ``updated_at`` first among equals.

        The query is never FTS5 syntax: operators, stars, colons, parentheses and stray quotes are
        plain text. ValueError when it has no words, or for limit < 1 or offset < 0; StoreError when
        the history cannot be read or this Python's SQLite has no full-text search."""
        terms = _terms(query)
        if not terms:
            raise ValueError(_NO_WORDS)
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset at least 0")
        if not self._searchable:
            raise StoreError(_NO_FTS5)
        sql = (
            "SELECT m.body, m.deleted_at FROM message_search JOIN messages AS m ON m.seq = message_search.rowid "
            "WHERE message_search MATCH ? AND m.account = ?"
            + (" AND m.room_id = ?" if room_id is not None else "")
            + " ORDER BY bm25(message_search), m.updated_at DESC, m.seq DESC LIMIT ? OFFSET ?"
        )
        room = () if room_id is None else (room_id,)
        with self._lock:
            try:
                words = self._words(terms)
                if not words:
                    raise ValueError(_NO_WORDS)
                parameters = (_match_expression(words), self._account, *room, limit, offset)
                rows = self._db.execute(sql, parameters).fetchall()
                return [SearchHit(Message.model_validate_json(body), deleted_at) for body, deleted_at in rows]
            except sqlite3.Error as exc:
                # SQLite's generic error here would be FTS5's, which quotes the query: say it without it.
                code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
                reason = "the search index could not run the query" if code == sqlite3.SQLITE_ERROR else _reason(exc)
                raise StoreError(f"local history could not be searched: {reason}") from exc
            except (OSError, ValidationError) as exc:
                raise _fault("read", exc) from exc

    def _words(self, terms: list[str]) -> list[str]:
        """The terms in which the index's own tokenizer finds a word: the others (punctuation, most
        symbols) would be FTS5 strings that match nothing, and so make the whole query match nothing.
        Asked of SQLite, in a table in memory, because Python's Unicode tables are not SQLite's."""
        if self._probe is None:
            probe = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            probe.execute(f"CREATE VIRTUAL TABLE probe USING fts5(term, tokenize='{_TOKENIZER}')")
            probe.execute("CREATE VIRTUAL TABLE probe_words USING fts5vocab(probe, 'instance')")
            self._probe = probe
        self._probe.execute("DELETE FROM probe")
        self._probe.executemany("INSERT INTO probe (rowid, term) VALUES (?, ?)", enumerate(terms))
        found = {row[0] for row in self._probe.execute("SELECT DISTINCT doc FROM probe_words")}
        return [term for n, term in enumerate(terms) if n in found]

    def search_span(self) -> SearchSpan:
        """What ``search`` looks through for this account: how many messages, the oldest ``seen_at``
        among them, and their rooms with known names.
        StoreError as ``search`` when this Python's SQLite has no full-text search."""
        if not self._searchable:
            raise StoreError(_NO_FTS5)
        with self._reading() as db:  # one statement, so one consistent read
            # Searches page on: the span is counted again only when some connection wrote since.
            version = (db.execute("PRAGMA data_version").fetchone()[0], self._commits)
            if self._span is not None and self._span[0] == version:
                return self._span[1]
            rows = db.execute(
                "SELECT m.room_id, r.name, count(*), min(m.seen_at) "
                "FROM messages AS m LEFT JOIN rooms AS r ON r.account = m.account AND r.id = m.room_id "
                "WHERE m.account = ? GROUP BY m.room_id ORDER BY m.room_id",
                (self._account,),
            ).fetchall()
        span = SearchSpan(
            messages=sum(row[2] for row in rows),
            oldest_seen_at=min((row[3] for row in rows), default=None),
            rooms={row[0]: row[1] for row in rows},
        )
        self._span = (version, span)
        return span

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
        messages, deletions = list(messages), list(deletions)
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
        self._wrote(len(messages) + len(deletions))
        return Checkpoint(room_id, name, updated_after, deleted_after, caught_up_at, version)

    # --- workspace checkpoints ------------------------------------------------------------------

    def workspace(self, name: str) -> WorkspaceState | None:
        """The workspace checkpoint ``name`` of this account with all its rooms, or None."""
        with self._snapshot() as db:
            row = db.execute(
                "SELECT first_at, sweep_cursor, swept_at, version FROM workspaces WHERE account = ? AND name = ?",
                (self._account, name),
            ).fetchone()
            if row is None:
                return None
            rooms = _workspace_rooms(db, self._account, name)
        return WorkspaceState(name, row[0], row[1], row[2], row[3], rooms)

    def save_workspace(
        self,
        previous: WorkspaceState | None,
        *,
        name: str,
        first_at: int,
        sweep_cursor: str,
        swept_at: int | None,
        rooms: dict[str, WorkspaceRoom],
    ) -> WorkspaceState:
        """Advance the workspace checkpoint ``name`` from ``previous`` (compare-and-set on its version:
        CheckpointConflict when another call saved it first, None meaning it must not exist yet), and
        upsert the given rooms; rooms not given keep their rows. One transaction. The answer holds
        every room of the workspace, given or not."""
        if previous is not None and previous.name != name:
            raise ValueError("previous is the state of another workspace checkpoint")
        version = previous.version + 1 if previous else 1
        with self._transaction() as db:
            current = db.execute(
                "SELECT version FROM workspaces WHERE account = ? AND name = ?", (self._account, name)
            ).fetchone()
            if (current[0] if current else None) != (previous.version if previous else None):
                raise CheckpointConflict(name)
            db.execute(
                "INSERT INTO workspaces (account, name, first_at, sweep_cursor, swept_at, version, saved_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, name) DO UPDATE SET "
                "first_at = excluded.first_at, sweep_cursor = excluded.sweep_cursor, swept_at = excluded.swept_at, "
                "version = excluded.version, saved_at = excluded.saved_at",
                (self._account, name, first_at, sweep_cursor, swept_at, version, _now()),
            )
            db.executemany(
                "INSERT INTO workspace_rooms (account, workspace, room_id, seen_activity, swept_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, workspace, room_id) DO UPDATE SET "
                "seen_activity = excluded.seen_activity, swept_at = excluded.swept_at",
                [(self._account, name, room_id, room.seen_activity, room.swept_at) for room_id, room in rooms.items()],
            )
            saved = _workspace_rooms(db, self._account, name)
        return WorkspaceState(name, first_at, sweep_cursor, swept_at, version, saved)

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
        "INSERT INTO messages (account, id, room_id, updated_at, body, seen_at, search_text, search_people, "
        "search_more) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, id) DO UPDATE SET "
        "room_id = excluded.room_id, updated_at = excluded.updated_at, body = excluded.body, "
        "seen_at = excluded.seen_at, search_text = excluded.search_text, "
        "search_people = excluded.search_people, search_more = excluded.search_more",
        [
            (
                account,
                m.id,
                m.room_id,
                to_ms(m.updated_at),
                m.model_dump_json(exclude={"change"}),
                now,
                *_search_columns(m),
            )
            for m in messages
        ],
    )
    db.executemany(
        "UPDATE messages SET deleted_at = ?, seen_at = ? WHERE account = ? AND id = ?",
        [(to_ms(d.deleted_at), now, account, d.id) for d in deletions],
    )


def _workspace_rooms(db: sqlite3.Connection, account: str, name: str) -> dict[str, WorkspaceRoom]:
    rows = db.execute(
        "SELECT room_id, seen_activity, swept_at FROM workspace_rooms WHERE account = ? AND workspace = ? "
        "ORDER BY room_id",
        (account, name),
    ).fetchall()
    return {room_id: WorkspaceRoom(seen_activity, swept_at) for room_id, seen_activity, swept_at in rows}


# --- search -------------------------------------------------------------------------------------------

_NO_FTS5 = "local history cannot be searched: this Python's SQLite has no full-text search (FTS5)"
_NO_WORDS = "the search query has no words to look for"
# A user's query: "quoted phrases" and words between them. A quote without its pair is plain text.
_TERM = re.compile(r'"([^"]*)"|([^\s"]+)')


def _search_columns(message: Message) -> tuple[str, str, str]:
    """What the search index holds for a message: its text; its author's username, display name and
    alias; its attachments' titles, texts and fields, and its files' names and captions. The text of
    an end-to-end encrypted message is ciphertext, and is left out."""
    people = (message.author, message.author_name, message.alias)
    more: list[str | None] = []
    for attachment in message.attachments:
        more += [attachment.title, attachment.text]
        for field in attachment.fields:
            more += [field.title, field.value]
    for file in message.files:
        more += [file.name, file.description]
    return (
        _normalized("" if message.encrypted else message.text),
        _normalized("\n".join(p for p in people if p)),
        _normalized("\n".join(p for p in more if p)),
    )


# Control characters (Unicode category Cc) but tab and newline, as spaces: a NUL would end FTS5's
# reading of a query early.
_CONTROLS = {code: " " for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\t\n"}


def _normalized(text: str) -> str:
    """Text as the index and the queries both see it: NFKC (full-width letters, ligatures and the like
    become plain ones), control characters as spaces, and no lone surrogates (SQLite takes only UTF-8)."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.translate(_CONTROLS)


def _terms(query: str) -> list[str]:
    """A user's query as its "quoted phrases" and words, each once, in order."""
    terms = (phrase or word for phrase, word in _TERM.findall(_normalized(query)))
    return [term for term in dict.fromkeys(terms) if term.strip()]


def _match_expression(words: list[str]) -> str:
    """The FTS5 MATCH expression requiring every word and phrase: each one an FTS5 string (quoted,
    inner quotes doubled), so nothing the user typed is FTS5 syntax."""
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


@functools.cache
def _fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (nearly every build has)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
    except sqlite3.Error:
        return False
    finally:
        probe.close()
    return True


def _copy_with_search_columns(db: sqlite3.Connection, source: str) -> None:
    """Copy the version-1 rows of ``source`` into messages, computing their search columns from each
    body, in batches (migration 2). A row whose body no longer parses is copied as it is, with empty
    search columns: it stays kept, only not findable."""
    after: tuple[int, ...] = ()
    while True:
        rows = db.execute(
            f"SELECT rowid, account, id, room_id, updated_at, deleted_at, body, seen_at FROM {source}"
            f"{' WHERE rowid > ?' if after else ''} ORDER BY rowid LIMIT 1000",
            after,
        ).fetchall()
        if not rows:
            return
        copies = []
        for _rowid, *row in rows:
            try:
                columns = _search_columns(Message.model_validate_json(row[5]))
            except ValidationError:
                columns = ("", "", "")
            copies.append((*row, *columns))
        db.executemany(
            "INSERT INTO messages (account, id, room_id, updated_at, deleted_at, body, seen_at, search_text, "
            "search_people, search_more) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            copies,
        )
        after = (rows[-1][0],)


def _create_search_index(db: sqlite3.Connection) -> None:
    """Create the search index and its triggers and fill it from messages; nothing without FTS5."""
    if _fts5_available():
        for statement in _SEARCH_INDEX:
            db.execute(statement)


def _search_objects(db: sqlite3.Connection) -> set[str]:
    """Which of the search index and its triggers the file has."""
    names = ("message_search", *_SEARCH_TRIGGERS)
    marks = ",".join("?" * len(names))
    return {row[0] for row in db.execute(f"SELECT name FROM sqlite_master WHERE name IN ({marks})", names)}


def _ensure_search(db: sqlite3.Connection) -> bool:
    """Whether this connection can search, after fitting the file to this SQLite. With FTS5, an
    index or trigger missing (the file was last written by a Python without FTS5) means the index is
    rebuilt from messages. Without FTS5, the triggers are dropped, else every write to messages would
    fail; the index waits for a Python with FTS5 to rebuild it."""
    available = _fts5_available()
    if not available:
        log.warning("local history: %s", _NO_FTS5)
    if _fits(_search_objects(db), available):
        return available
    db.execute("BEGIN IMMEDIATE")
    try:
        if not _fits(_search_objects(db), available):  # another process may have done it since we looked
            for trigger in _SEARCH_TRIGGERS:
                db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            if available:
                db.execute("DROP TABLE IF EXISTS message_search")
                _create_search_index(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return available


def _fits(present: set[str], available: bool) -> bool:
    if available:
        return present == {"message_search", *_SEARCH_TRIGGERS}
    return not present & set(_SEARCH_TRIGGERS)


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


def _connect(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection to a checked, current file, and whether it can search. Order matters: the version
    is read before anything could write (a newer file is refused untouched), and the integrity check
    before any migration."""
    _check_header(path)
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
        searchable = _ensure_search(db)
    except BaseException:
        db.close()
        raise
    return db, searchable


_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    """Judge the file by its 100-byte header before SQLite opens it: SQLite, even only reading, may
    create, replay or delete the -wal and -shm beside it, and a refused file must stay as it is.
    Not a database: _Damaged. A newer schema stamped in the header: refused. An empty file is new."""
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {_reason(exc)}") from exc
    if header and (len(header) < len(_MAGIC) or not header.startswith(_MAGIC)):
        raise _Damaged(path, "is not a SQLite database")
    if len(header) == 100:
        version = int.from_bytes(header[60:64], "big", signed=True)  # PRAGMA user_version
        if version > SCHEMA_VERSION:
            raise _too_new(path, version)
    # A WAL not yet checkpointed may hold a newer header still: _connect reads the version again.


def _migrate(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Take the file forward one version at a time, each step with its stamp in one transaction."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            now = _user_version(db)  # another process may have migrated it since we looked
            if now > SCHEMA_VERSION:
                raise _too_new(path, now)
            if now < target:
                for step in _MIGRATIONS[target - 1]:
                    if isinstance(step, str):
                        db.execute(step)
                    else:
                        step(db)
                db.execute(f"PRAGMA user_version = {target:d}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    if version < SCHEMA_VERSION:
        # A migration may rewrite every row: give the WAL's space back now rather than at the last
        # close. Only an optimisation: another process reading may keep it from happening.
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.info("local history: the journal was not truncated after the migration: %s", _reason(exc))


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


class _Damaged(StoreError):
    """The file is not a usable SQLite database: ``open_store`` moves it aside and starts afresh."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path} {what}")
        self.what = what


def _move_aside(path: Path) -> Path:
    """Rename a damaged file, with its -wal/-shm/-journal companions, to ``<name>.corrupt-<UTC time>``
    (kept for the user to inspect or recover). The companions go too: a stale WAL left beside a new
    file would be replayed into it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    companions = ("", "-wal", "-shm", "-journal")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while any(os.path.lexists(f"{aside}{suffix}") for suffix in companions):
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in companions:
        if os.path.lexists(f"{path}{suffix}"):
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def _exposure(path: Path) -> str | None:
    """A notice when what rc-mcp did not create lets other users at the history: the file readable or
    writable by others, or the directory writable by others (they could replace or remove the file).
    Nothing is chmodded. A readable-only directory is fine (the file in it is 0600), and group bits
    are not flagged: with per-user groups (umask 002) the group is the user alone."""
    if os.name != "posix":
        return None
    try:
        file_mode = stat.S_IMODE(os.stat(path).st_mode)
        dir_mode = stat.S_IMODE(os.stat(path.parent).st_mode)
    except OSError:
        return None
    open_to_others = []
    if file_mode & 0o006:
        open_to_others.append(f"{path} is open to other users (mode {file_mode:04o}; chmod 600 it)")
    if dir_mode & 0o002:
        open_to_others.append(f"other users can replace files in {path.parent} (mode {dir_mode:04o}; chmod 700 it)")
    if not open_to_others:
        return None
    return f"local history is on, but {' and '.join(open_to_others)}; rc-mcp leaves the modes of what it did not create"


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


if TYPE_CHECKING:

    def _is_a_history(store: MessageStore) -> HistoryStore:  # mypy --strict checks MessageStore against it
        return store
