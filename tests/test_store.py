"""The local history: upserts, recall, bounds, permissions, atomic pages, checkpoint compare-and-set."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rc_mcp import store as store_module
from rc_mcp.changes import classify, word_diff
from rc_mcp.models import Deletion, Message, Reaction
from rc_mcp.store import _MIGRATIONS, SCHEMA_VERSION, CheckpointConflict, MessageStore, StoreError

T = datetime(2026, 11, 20, 9, tzinfo=UTC)


def message(msg_id: str, text: str = "hello", **fields: object) -> Message:
    base: dict[str, object] = {"id": msg_id, "room_id": "R", "author": "alice", "text": text, "ts": T, "updated_at": T}
    return Message.model_validate({**base, **fields})


def open_store(path: Path, **caps: int) -> MessageStore:
    return MessageStore(
        path / "state" / "rc-mcp.sqlite3",
        "https://chat|u1",
        max_messages=caps.get("max_messages", 1000),
        max_age_days=caps.get("max_age_days", 30),
    )


def test_upsert_and_recall_survive_reopening(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.record([message("a", "first"), message("b")])
    store.record([message("a", "first, edited")], [Deletion(id="b", deleted_at=T)])
    store.close()
    again = open_store(tmp_path)
    known = again.known(["a", "b", "zzz"])
    assert known["a"].text == "first, edited"
    assert known["b"].text == "hello"  # a deleted message is still recalled
    assert "zzz" not in known
    assert again.count() == 2


def test_owner_only_permissions(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.record([message("a")])
    assert stat.S_IMODE(os.stat(store.path.parent).st_mode) == 0o700
    for name in (store.path.name, f"{store.path.name}-wal", f"{store.path.name}-shm"):
        assert stat.S_IMODE(os.stat(store.path.parent / name).st_mode) == 0o600, name  # SQLite copies the file's mode


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    # rc-mcp sets modes only on what it creates; an existing directory is the user's to decide.
    # Its readable mode does not expose the history: the file rc-mcp creates in it is 0600.
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o755)
    store = open_store(tmp_path)
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_missing_parents_are_created_owner_only(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o751)
    store = MessageStore(tmp_path / "a" / "b" / "rc-mcp.sqlite3", "x", max_messages=10, max_age_days=1)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o751  # the existing base is left alone
    store.close()


def test_a_new_file_is_stamped_with_the_current_schema(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(_MIGRATIONS)


# The schema as rc-mcp wrote it before it stamped a version (frozen here: the test must not follow
# later edits of the code).
VERSION_0 = """
CREATE TABLE messages (account TEXT NOT NULL, id TEXT NOT NULL, room_id TEXT NOT NULL, updated_at INTEGER NOT NULL,
    deleted_at INTEGER, body TEXT NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (account, id));
CREATE INDEX messages_seen ON messages (seen_at);
CREATE TABLE checkpoints (account TEXT NOT NULL, room_id TEXT NOT NULL, name TEXT NOT NULL,
    updated_after INTEGER NOT NULL, deleted_after INTEGER NOT NULL, caught_up_at INTEGER, version INTEGER NOT NULL,
    saved_at INTEGER NOT NULL, PRIMARY KEY (account, room_id, name));
CREATE TABLE pending (account TEXT NOT NULL, room_id TEXT NOT NULL, name TEXT NOT NULL, stream TEXT NOT NULL,
    seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (account, room_id, name, stream, seq));
CREATE TABLE rooms (account TEXT NOT NULL, id TEXT NOT NULL, name TEXT, PRIMARY KEY (account, id));
"""


def version_0_file(tmp_path: Path) -> Path:
    """A file as the unversioned rc-mcp left it (WAL, user_version 0), with a message, a checkpoint,
    a pending item and a room name in it."""
    path = tmp_path / "state" / "rc-mcp.sqlite3"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(VERSION_0)
    account, now = "https://chat|u1", int(time.time() * 1000)
    body = message("old", "kept across the migration").model_dump_json(exclude={"change"})
    db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", (account, "old", "R", 1, None, body, now))
    db.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (account, "R", "cp", 10, 5, None, 3, now))
    pending = message("p1", "waiting").model_dump_json(exclude={"change"})
    db.execute("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?)", (account, "R", "cp", "updated", 0, pending))
    db.execute("INSERT INTO rooms VALUES (?, ?, ?)", (account, "R", "general"))
    db.commit()
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()
    return path


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    db.close()
    return version


def test_an_unversioned_file_from_before_versioning_is_migrated_without_losing_rows(tmp_path: Path) -> None:
    path = version_0_file(tmp_path)
    store = open_store(tmp_path)
    assert store.known(["old"])["old"].text == "kept across the migration"
    checkpoint = store.checkpoint("R", "cp")
    assert checkpoint is not None and (checkpoint.updated_after, checkpoint.version) == (10, 3)
    assert [m.text for m in store.pending("R", "cp")[0]] == ["waiting"]
    assert store.room_name("R") == "general"
    assert [hit.message.id for hit in store.search("kept migration")] == ["old"]  # and 1 → 2 made it searchable
    store.close()
    assert user_version(path) == SCHEMA_VERSION


def test_migrations_run_in_order_each_in_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = version_0_file(tmp_path)
    broken = (*_MIGRATIONS, ("CREATE TABLE half_done (x)", "THIS IS NOT SQL"))
    monkeypatch.setattr(store_module, "_MIGRATIONS", broken)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(broken))
    with pytest.raises(StoreError, match="cannot be used"):
        open_store(tmp_path)
    with sqlite3.connect(path) as db:  # the real steps stand; the broken one left nothing, not even its stamp
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS)
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    db.close()
    fixed = (*_MIGRATIONS, ("ALTER TABLE rooms ADD COLUMN topic TEXT",))
    monkeypatch.setattr(store_module, "_MIGRATIONS", fixed)
    store = open_store(tmp_path)
    assert store.room_name("R") == "general" and store.count() == 1
    store.close()
    assert user_version(path) == len(fixed)


def test_accounts_do_not_see_each_other(tmp_path: Path) -> None:
    """Two accounts in one file share nothing: messages, checkpoints, pending items, room names,
    search results and workspace positions are each the account's own."""
    store = open_store(tmp_path)
    store.record([message("a", "findable words")])
    store.save_checkpoint(
        None, room_id="R", name="cp", updated_after=1, deleted_after=1, caught_up_at=None,
        pending_messages=[message("p")], pending_deletions=[Deletion(id="q", deleted_at=T)],
    )  # fmt: skip
    store.remember_room("R", "general")
    store.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={})
    other = MessageStore(store.path, "https://other|u2", max_messages=10, max_age_days=1)
    assert other.known(["a"]) == {}
    assert other.checkpoint("R", "cp") is None and other.pending("R", "cp") == ([], [])
    assert other.room_name("R") is None and other.workspace("ws") is None
    assert other.search("findable") == [] and other.search_span().messages == 0
    # and the first account still has all of it
    assert store.pending("R", "cp") != ([], []) and store.search("findable") != []
    other.close()
    store.close()


def test_size_cap_keeps_the_most_recently_seen(tmp_path: Path) -> None:
    store = open_store(tmp_path, max_messages=3)
    for i in range(5):
        store.record([message(f"m{i}")])
        time.sleep(0.002)
    store.prune()
    assert sorted(store.known([f"m{i}" for i in range(5)])) == ["m2", "m3", "m4"]


def test_age_cap(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.record([message("old")])
    store._db.execute("UPDATE messages SET seen_at = 0")  # seen in 1970
    store.prune()
    assert store.known(["old"]) == {}


def test_a_failed_page_writes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)

    class Broken(Message):
        def model_dump_json(self, **kwargs: object) -> str:  # type: ignore[override]
            raise RuntimeError("crash mid-page")

    good = message("good")
    broken = Broken.model_validate(message("broken").model_dump())
    with pytest.raises(RuntimeError):
        store.record([good, broken])
    assert store.known(["good", "broken"]) == {}  # the whole page rolled back


def test_checkpoint_compare_and_set(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.checkpoint("R", "cp") is None
    first = store.save_checkpoint(
        None, room_id="R", name="cp", updated_after=10, deleted_after=5, caught_up_at=None, messages=[message("a")]
    )
    assert store.checkpoint("R", "cp") == first
    second = store.save_checkpoint(first, room_id="R", name="cp", updated_after=20, deleted_after=6, caught_up_at=20)
    with pytest.raises(CheckpointConflict):  # a writer that read `first` lost the race
        store.save_checkpoint(first, room_id="R", name="cp", updated_after=99, deleted_after=99, caught_up_at=99)
    with pytest.raises(CheckpointConflict):  # creating it twice is a conflict too
        store.save_checkpoint(None, room_id="R", name="cp", updated_after=1, deleted_after=1, caught_up_at=None)
    assert store.checkpoint("R", "cp") == second
    assert store.known(["a"])["a"].text == "hello"  # the page went in with the checkpoint


def test_pending_items_round_trip(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    waiting = [message("p1"), message("p2", "second")]
    gone = [Deletion(id="d1", deleted_at=T)]
    store.save_checkpoint(
        None,
        room_id="R",
        name="cp",
        updated_after=1,
        deleted_after=1,
        caught_up_at=None,
        pending_messages=waiting,
        pending_deletions=gone,
    )
    assert store.pending("R", "cp") == (waiting, gone)
    assert store.known(["p1"]) == {}  # pending is not "shown"


def test_classify_kinds() -> None:
    before = message("a", "the deploy is done")
    assert classify(None, before).kinds == ["new"]
    assert classify(before, before).kinds == ["unchanged"]
    edited = classify(before, message("a", "the deploy is finally done"))
    assert edited.kinds == ["edited"] and edited.diff == '+"finally"'
    reacted = message("a", "the deploy is done", reactions=[Reaction(emoji=":+1:", usernames=["bob"])])
    assert classify(before, reacted).kinds == ["reactions"]
    assert classify(before, message("a", "the deploy is done", pinned=True)).kinds == ["pinned"]
    assert classify(before, message("a", "the deploy is done", thread_reply_count=1)).kinds == ["thread"]
    assert classify(before, message("a", "", type="rm")).kinds == ["removed"]
    later = message("a", "the deploy is done", updated_at=datetime(2026, 11, 21, tzinfo=UTC))
    assert classify(before, later).kinds == ["other"]


def test_word_diff() -> None:
    assert word_diff("a b c", "a x c") == '"b" → "x"'
    assert word_diff("a b c", "a c") == '-"b"'
    assert word_diff("a  b", "a b") == "whitespace only"
    assert word_diff("x", "y " * 400).endswith("…")


def test_checkpoint_saves_alone_keep_the_store_within_its_cap(tmp_path: Path) -> None:
    # A server used only through catch_up writes only through save_checkpoint: the caps must apply
    # there too, not only at the next start. Pending items and the checkpoint are never pruned.
    store = open_store(tmp_path, max_messages=10)
    saved = None
    per_page = 10
    for page in range(store_module._PRUNE_EVERY // per_page):
        shown = [message(f"m{page}-{i}") for i in range(per_page)]
        saved = store.save_checkpoint(
            saved,
            room_id="R",
            name="cp",
            updated_after=page,
            deleted_after=page,
            caught_up_at=None,
            messages=shown,
            pending_messages=[message("waiting")],
        )
    assert store.count() == 10
    assert store.checkpoint("R", "cp") == saved
    assert store.pending("R", "cp") == ([message("waiting")], [])
