"""Faults in local state: each one leaves the server running with a plain reason, and no file is lost.

Every case checks three things: the outcome (a store, or None: history off for this run), the
sentence ``open_store`` gives the user, and that every byte that was on disk before is still there
(under its own name, or moved aside). A few cases need a real filesystem: a read-only one for an
unwritable directory as root, and a small one for a full disk. They mount a tmpfs when the machine
allows it (root in most containers and CI here); a full disk is also simulated on any machine with
SQLite's max_page_count, which makes SQLite report SQLITE_FULL exactly as a full disk does.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rc_mcp import store as store_module
from rc_mcp.models import Deletion, Message
from rc_mcp.store import (
    FILE_NAME,
    SCHEMA_VERSION,
    CheckpointConflict,
    HistoryStore,
    MessageStore,
    StoreError,
    StoreOpening,
    WorkspaceRoom,
    open_store,
)
from tests.test_store_search import index_is_consistent, version_1_file

T = datetime(2026, 11, 20, 9, tzinfo=UTC)
ACCOUNT = "https://chat|u1"
ASIDE = re.compile(re.escape(FILE_NAME) + r"\.corrupt-\d{8}T\d{6}Z$")


def message(msg_id: str, text: str = "hello") -> Message:
    return Message.model_validate(
        {"id": msg_id, "room_id": "R", "author": "alice", "text": text, "ts": T, "updated_at": T}
    )


def opening(state: Path) -> StoreOpening:
    return open_store(state / FILE_NAME, ACCOUNT, max_messages=1000, max_age_days=30)


def opened(state: Path) -> MessageStore:
    result = opening(state)
    assert result.store is not None, result.problem
    return result.store


def real_store(state: Path, messages: int = 3) -> Path:
    """A closed store file holding ``messages`` messages."""
    store = opened(state)
    store.record([message(f"m{i}", "x" * 200) for i in range(messages)])
    store.close()
    return store.path


def files(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (links not followed), but -shm: SQLite rewrites that index on reads."""
    found: dict[str, bytes] = {}
    for here, _dirs, names in os.walk(root):
        for name in names:
            path = Path(here) / name
            if not path.is_symlink() and not name.endswith("-shm"):
                found[str(path.relative_to(root))] = path.read_bytes()
    return found


def assert_nothing_lost(before: dict[str, bytes], root: Path) -> None:
    after = files(root)
    for name, content in before.items():
        assert after.get(name) == content or content in after.values(), f"{name} was lost or changed"


def works(store: MessageStore) -> None:
    store.record([message("probe")])
    assert "probe" in store.known(["probe"])


@contextmanager
def holding_lock(path: Path) -> Iterator[None]:
    """Another process holding ``path`` with BEGIN EXCLUSIVE until the block ends."""
    hold = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", hold, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        try:
            yield
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)


@contextmanager
def tmpfs(options: str) -> Iterator[Path]:
    """A fresh tmpfs mounted with ``options``, or a skip saying why there is none."""
    point = Path(tempfile.mkdtemp(prefix="rc-mcp-tmpfs-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True, text=True, check=False
        )
    except OSError as exc:  # no mount command
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({exc.strerror})")
    if mounted.returncode != 0:
        point.rmdir()
        why = mounted.stderr.strip().splitlines()
        pytest.skip(f"cannot mount a tmpfs here: {why[0] if why else mounted.returncode}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)
        point.rmdir()


# --- a damaged file is moved aside, never deleted, and a new one started ------------------------------


def assert_moved_aside(result: StoreOpening, state: Path, what: str, old: bytes) -> None:
    assert result.store is not None
    path = state / FILE_NAME
    match = re.fullmatch(
        rf"local history starts empty: {re.escape(str(path))} {re.escape(what)}; "
        rf"it was moved aside to (\S+) and a new one was started",
        result.problem or "",
    )
    assert match, result.problem
    aside = Path(match[1])
    assert aside.parent == state and ASIDE.fullmatch(aside.name)
    assert aside.read_bytes() == old  # kept byte for byte
    works(result.store)
    result.store.close()


def test_random_bytes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"not sqlite" + os.urandom(4086)
    (state / FILE_NAME).write_bytes(garbage)
    before = files(tmp_path)
    assert_moved_aside(opening(state), state, "is not a SQLite database", garbage)
    assert_nothing_lost(before, tmp_path)


@pytest.mark.parametrize("keep", [100, 50])  # 100: the header only; 50: not even that (SQLite reads version 0)
def test_truncated_file(tmp_path: Path, keep: int) -> None:
    state = tmp_path / "state"
    path = real_store(state)
    path.write_bytes(path.read_bytes()[:keep])
    before = files(tmp_path)
    damaged = before[f"state/{FILE_NAME}"]
    assert_moved_aside(opening(state), state, "is damaged (database disk image is malformed)", damaged)
    assert_nothing_lost(before, tmp_path)


def test_a_file_that_fails_the_integrity_check(tmp_path: Path) -> None:
    # Readable pages that do not fit together: the messages table's interior page relabelled as a leaf.
    state = tmp_path / "state"
    path = real_store(state, messages=300)
    with sqlite3.connect(path) as db:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    assert data[start] == 0x05  # an interior table page
    data[start : start + 8] = b"\x0d" + bytes(7)
    path.write_bytes(bytes(data))
    before = files(tmp_path)
    assert_moved_aside(opening(state), state, "is damaged (SQLite's integrity check failed)", bytes(data))
    assert_nothing_lost(before, tmp_path)


def test_companion_files_go_aside_with_the_damaged_file(tmp_path: Path) -> None:
    # A stale WAL left beside a new file would be replayed into it: it moves with the file it belongs to.
    state = tmp_path / "state"
    state.mkdir()
    (state / FILE_NAME).write_bytes(b"garbage" * 100)
    (state / f"{FILE_NAME}-wal").write_bytes(b"old wal")
    before = files(tmp_path)
    result = opening(state)
    assert result.store is not None and result.problem is not None
    asides = sorted(p.name for p in state.iterdir() if ".corrupt-" in p.name)
    assert len(asides) == 2 and asides[1] == f"{asides[0]}-wal"
    assert (state / asides[1]).read_bytes() == b"old wal"
    result.store.close()
    assert_nothing_lost(before, tmp_path)


def test_two_damaged_files_in_the_same_second_get_their_own_names(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for content in (b"first garbage" * 50, b"second garbage" * 50):
        (state / FILE_NAME).write_bytes(content)
        result = opening(state)
        assert result.store is not None
        result.store.close()
    kept = {p.read_bytes() for p in state.iterdir() if ".corrupt-" in p.name}
    assert kept == {b"first garbage" * 50, b"second garbage" * 50}


# --- a place that cannot hold the file: history off for this run -------------------------------------


def assert_off(result: StoreOpening, reason: str) -> None:
    assert result.store is None
    assert result.problem == f"local history is off for this run: {reason}"


def test_unwritable_directory(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        state = tmp_path / "state"
        state.mkdir()
        os.chmod(state, 0o500)
        try:
            assert_off(opening(state), f"{state / FILE_NAME} cannot be created: permission denied")
            assert files(tmp_path) == {}
        finally:
            os.chmod(state, 0o700)
        return
    # root writes through any mode: a read-only filesystem is what stops root.
    with tmpfs("size=64k,ro") as state:
        assert_off(opening(state), f"{state / FILE_NAME} cannot be created: read-only file system")
        assert files(state) == {}


def test_uncreatable_directory_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    state = tmp_path / "file" / "state"
    assert_off(opening(state), f"{state} cannot be created: not a directory")
    assert files(tmp_path) == {"file": b"mine"}


def test_uncreatable_directory_name_too_long(tmp_path: Path) -> None:
    state = tmp_path / ("x" * 300) / "state"  # refused for root too
    assert_off(opening(state), f"{state.parent} cannot be created: file name too long")
    assert files(tmp_path) == {}


def test_uncreatable_directory_in_a_read_only_parent(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        parent = tmp_path / "parent"
        parent.mkdir(mode=0o500)
        try:
            assert_off(opening(parent / "state"), f"{parent / 'state'} cannot be created: permission denied")
        finally:
            os.chmod(parent, 0o700)
        return
    with tmpfs("size=64k,ro") as parent:  # root creates directories whatever the parent's mode
        assert_off(opening(parent / "state"), f"{parent / 'state'} cannot be created: read-only file system")


def test_state_dir_path_is_a_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("someone's notes")
    assert_off(opening(state), f"{state} is a file, not a directory")
    assert files(tmp_path) == {"state": b"someone's notes"}


def test_database_path_is_a_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / FILE_NAME).mkdir(parents=True)
    assert_off(opening(state), f"{state / FILE_NAME} cannot be read: is a directory")
    assert (state / FILE_NAME).is_dir()


# --- another process holds the file: do not wait long, do not crash ----------------------------------


def test_locked_by_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)  # the real one is a few seconds
    state = tmp_path / "state"
    path = real_store(state)
    before = files(tmp_path)
    with holding_lock(path):
        assert_off(opening(state), f"{path} is locked by another process (waited 0.2 s)")
    assert_nothing_lost(before, tmp_path)
    again = opened(state)  # "for this run": once the lock is gone, the next start has it back
    assert again.count() == 3
    again.close()


def test_locked_before_rc_mcp_ever_used_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file not yet in WAL mode is locked even against readers: the first read is what waits.
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    state = tmp_path / "state"
    state.mkdir()
    path = state / FILE_NAME
    sqlite3.connect(path).close()
    with holding_lock(path):
        assert_off(opening(state), f"{path} is locked by another process (waited 0.2 s)")


def test_a_write_while_another_process_holds_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    store = opened(tmp_path / "state")
    with holding_lock(store.path):
        with pytest.raises(StoreError, match=r"^local history could not be saved: another process holds"):
            store.record([message("late")])
        assert store.known(["late"]) == {}  # WAL: reading goes on while another process writes
    works(store)
    store.close()


# --- a newer schema: refused, the file untouched -----------------------------------------------------


@pytest.mark.parametrize("leftover_wal", [False, True])
def test_newer_schema(tmp_path: Path, leftover_wal: bool) -> None:
    # leftover_wal: a newer rc-mcp stopped before its WAL was checkpointed. SQLite, even only reading,
    # would replay that WAL into the file and delete it on close: the header alone decides.
    state = tmp_path / "state"
    state.mkdir()
    path = state / FILE_NAME
    writer = sqlite3.connect(state / "writer.sqlite3", isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE messages_v99 (anything)")
    writer.execute("PRAGMA user_version = 99")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if leftover_wal:
        writer.execute("INSERT INTO messages_v99 VALUES ('only in the WAL')")
        (state / f"{FILE_NAME}-wal").write_bytes((state / "writer.sqlite3-wal").read_bytes())
    path.write_bytes((state / "writer.sqlite3").read_bytes())
    writer.close()
    for name in os.listdir(state):
        if name.startswith("writer"):
            os.remove(state / name)
    before = files(tmp_path)
    assert (f"state/{FILE_NAME}-wal" in before) == leftover_wal
    assert_off(
        opening(state),
        f"{path} has schema version 99 but this rc-mcp knows versions up to {SCHEMA_VERSION} "
        "(a newer rc-mcp wrote it); the file was left untouched",
    )
    assert files(tmp_path) == before  # byte for byte, and no file added or removed beside it
    assert sorted(os.listdir(state)) == sorted(Path(name).name for name in before)


# --- a full disk: the write fails whole, the file stays consistent -----------------------------------


def fill_up(store: MessageStore) -> None:
    """SQLite's own disk-full: no page may be added to this connection's file any more."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")


def test_disk_full_write_is_rolled_back(tmp_path: Path) -> None:
    store = opened(tmp_path / "state")
    store.record([message("before")])
    first = store.save_checkpoint(None, room_id="R", name="cp", updated_after=1, deleted_after=1, caught_up_at=None)
    fill_up(store)
    page = [message(f"big{i}", "x" * 2000) for i in range(50)]
    with pytest.raises(StoreError, match=r"^local history could not be saved: the disk is full$"):
        store.record(page, [Deletion(id="before", deleted_at=T)])
    with pytest.raises(StoreError, match="the disk is full"):
        store.save_checkpoint(
            first, room_id="R", name="cp", updated_after=2, deleted_after=2, caught_up_at=2, messages=page
        )
    assert not store._db.in_transaction
    assert store.count() == 1 and store.known(["big0"]) == {}
    assert store.checkpoint("R", "cp") == first
    assert store._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    store._db.execute("PRAGMA max_page_count = 1073741823")  # space again: the same connection goes on
    store.record(page)
    assert store.count() == 51
    store.close()


def test_disk_full_rolls_back_search_and_workspace_writes(tmp_path: Path) -> None:
    store = opened(tmp_path / "state")
    store.record([message("before", "indexed before")])
    rooms = {"A": WorkspaceRoom(1, None)}
    first = store.save_workspace(None, name="ws", first_at=1, sweep_cursor="A", swept_at=None, rooms=rooms)
    fill_up(store)
    page = [message(f"big{i}", f"bigword {i} " + "y" * 2000) for i in range(50)]
    with pytest.raises(StoreError, match=r"^local history could not be saved: the disk is full$"):
        store.record(page)
    many = {f"room{i:04d}-{'z' * 200}": WorkspaceRoom(i, i) for i in range(500)}
    with pytest.raises(StoreError, match=r"^local history could not be saved: the disk is full$"):
        store.save_workspace(first, name="ws", first_at=2, sweep_cursor="B", swept_at=2, rooms=many)
    assert not store._db.in_transaction
    assert store.search("bigword") == [] and [h.message.id for h in store.search("indexed")] == ["before"]
    assert index_is_consistent(store)
    assert store.workspace("ws") == first
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.record(page)
    assert len(store.search("bigword")) == 50
    assert store.save_workspace(first, name="ws", first_at=2, sweep_cursor="B", swept_at=2, rooms=many).version == 2
    store.close()


def test_disk_full_during_migration_1_to_2() -> None:
    # The migration copies messages and builds the index: with too little room it fails whole, the
    # file stays at version 1 with every row, and the next start with room migrates it.
    with tmpfs("size=8m") as disk:
        _, v1_rows = version_1_file(disk)
        path = disk / "state" / FILE_NAME
        db = sqlite3.connect(path)
        now = int(time.time() * 1000)
        db.executemany(  # enough rows that their copy and index need more than the room left
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    ACCOUNT,
                    f"bulk{i}",
                    "R",
                    1,
                    None,
                    message(f"bulk{i}", f"bulk {i} " + "w" * 1500).model_dump_json(),
                    now,
                )
                for i in range(400)
            ],
        )
        db.commit()
        rows = db.execute("SELECT * FROM messages ORDER BY account, id").fetchall()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (free - 160 * 1024))  # room for the -shm and a little, not for the copy
        result = opening(disk / "state")
        assert result.store is None
        assert result.problem == f"local history is off for this run: the disk holding {path} is full"
        filler.unlink()
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA user_version").fetchone()[0] == 1
            assert check.execute("SELECT * FROM messages ORDER BY account, id").fetchall() == rows
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.close()
        store = opened(disk / "state")
        assert len(store.search("bulk")) == 50 and len(store.search("bulk", limit=1000)) == 400
        assert index_is_consistent(store)
        store.close()
        assert len(v1_rows) + 400 == len(rows)


def test_disk_full_on_a_real_small_filesystem() -> None:
    with tmpfs("size=256k") as disk:
        state = disk / "state"
        store = opened(state)
        store.record([message("before")])
        with pytest.raises(StoreError, match=r"^local history could not be saved: the disk is full$"):
            store.record([message(f"big{i}", "x" * 2000) for i in range(200)])
        assert store.count() == 1
        store.record([message("small")])  # the space SQLite had already taken is reused
        store.close()
        again = opened(state)
        assert sorted(again.known(["before", "small", "big0"])) == ["before", "small"]
        assert again._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        again.close()


def test_disk_full_at_start() -> None:
    with tmpfs("size=64k") as disk:  # too small for the file, its WAL and its 32 KiB shared-memory index
        state = disk / "state"
        assert_off(opening(state), f"the disk holding {state / FILE_NAME} is full")


# --- symlinks and modes rc-mcp did not set ------------------------------------------------------------


def test_symlinked_state_dir_keeps_its_targets_mode(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.chmod(target, 0o755)
    (tmp_path / "state").symlink_to(target)
    result = opening(tmp_path / "state")
    assert result.store is not None
    assert result.problem is None  # a listable directory does not expose the 0600 file in it
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(target / FILE_NAME).st_mode) == 0o600  # the file rc-mcp created
    works(result.store)
    result.store.close()


def test_symlinked_database_keeps_its_targets_mode(tmp_path: Path) -> None:
    elsewhere = real_store(tmp_path / "elsewhere")
    os.chmod(elsewhere, 0o644)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / FILE_NAME).symlink_to(elsewhere)
    result = opening(state)
    assert result.store is not None
    assert result.problem == (
        f"local history is on, but {state / FILE_NAME} is open to other users (mode 0644; chmod 600 it); "
        "rc-mcp leaves the modes of what it did not create"
    )
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o644
    assert result.store.count() == 3  # the target's history, read through the link
    result.store.close()


def test_a_directory_others_can_write_is_reported_not_changed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o777)
    result = opening(state)
    assert result.store is not None
    assert result.problem == (
        f"local history is on, but other users can replace files in {state} (mode 0777; chmod 700 it); "
        "rc-mcp leaves the modes of what it did not create"
    )
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o777
    result.store.close()


# --- runtime faults are StoreError; a lost race is not a fault -----------------------------------------


def test_reads_raise_store_error(tmp_path: Path) -> None:
    store = opened(tmp_path / "state")
    store.record([message("a")])
    store._db.execute('UPDATE messages SET body = \'{"not": "a message"}\'')
    with pytest.raises(StoreError, match=r"^local history could not be read: a stored entry no longer matches"):
        store.known(["a"])
    store.close()
    reads = (
        lambda: store.known(["a"]),
        store.count,
        lambda: store.checkpoint("R", "cp"),
        lambda: store.room_name("R"),
        store.search_span,
        lambda: store.workspace("ws"),
    )
    for read in reads:
        with pytest.raises(StoreError, match=r"^local history could not be read: "):
            read()
    with pytest.raises(StoreError, match=r"^local history could not be searched: "):
        store.search("hello")
    writes = (
        lambda: store.remember_room("R", "general"),
        lambda: store.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={}),
    )
    for write in writes:
        with pytest.raises(StoreError, match=r"^local history could not be saved: "):
            write()
    store.close()  # closing twice is harmless


def test_a_stored_entry_that_no_longer_parses_fails_a_search_plainly(tmp_path: Path) -> None:
    store = opened(tmp_path / "state")
    store.record([message("a", "private words")])
    store._db.execute('UPDATE messages SET body = \'{"not": "a message"}\'')  # the index still has its words
    with pytest.raises(StoreError) as caught:
        store.search("private")
    assert (
        str(caught.value) == "local history could not be read: a stored entry no longer matches this version's format"
    )
    store.close()


def test_workspace_writes_while_another_process_holds_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    store = opened(tmp_path / "state")
    store.record([message("a", "searchable while locked")])
    with holding_lock(store.path):
        with pytest.raises(StoreError, match=r"^local history could not be saved: another process holds"):
            store.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={})
        assert store.workspace("ws") is None  # WAL: reads go on
        assert [hit.message.id for hit in store.search("locked")] == ["a"]
        assert store.search_span().messages == 1
    assert store.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={}).version == 1
    store.close()


def test_a_checkpoint_conflict_is_not_a_store_error(tmp_path: Path) -> None:
    assert not issubclass(CheckpointConflict, StoreError)
    store = opened(tmp_path / "state")
    store.save_checkpoint(None, room_id="R", name="cp", updated_after=1, deleted_after=1, caught_up_at=None)
    with pytest.raises(CheckpointConflict):
        store.save_checkpoint(None, room_id="R", name="cp", updated_after=2, deleted_after=2, caught_up_at=None)
    store.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={})
    with pytest.raises(CheckpointConflict):
        store.save_workspace(None, name="ws", first_at=2, sweep_cursor="", swept_at=None, rooms={})
    assert not store._db.in_transaction
    store.close()


def test_message_store_is_a_history(tmp_path: Path) -> None:
    store = opened(tmp_path / "state")
    assert isinstance(store, HistoryStore)
    store.close()


def test_opening_never_raises_and_never_leaks_the_account(tmp_path: Path) -> None:
    secretish = "https://chat.example|user-id-123"
    (tmp_path / "state").write_text("x")
    result = open_store(tmp_path / "state" / FILE_NAME, secretish, max_messages=10, max_age_days=1)
    assert result.store is None and result.problem is not None
    assert "user-id-123" not in result.problem and "chat.example" not in result.problem
