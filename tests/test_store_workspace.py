"""Workspace checkpoints: a position per room and a sweep cursor, saved with compare-and-set."""

from __future__ import annotations

from pathlib import Path

import pytest

from rc_mcp.store import CheckpointConflict, MessageStore, WorkspaceRoom, WorkspaceState
from tests.test_store_search import version_1_file

ACCOUNT = "https://chat|u1"
OTHER = "https://chat|u2"


def opened(tmp_path: Path, account: str = ACCOUNT) -> MessageStore:
    return MessageStore(tmp_path / "state" / "rc-mcp.sqlite3", account, max_messages=1000, max_age_days=30)


def test_round_trip(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert store.workspace("ws") is None
    rooms = {
        "R1": WorkspaceRoom(seen_activity=100, swept_at=None),
        "R2": WorkspaceRoom(seen_activity=200, swept_at=150),
    }
    first = store.save_workspace(None, name="ws", first_at=50, sweep_cursor="", swept_at=None, rooms=rooms)
    assert first == WorkspaceState(name="ws", first_at=50, sweep_cursor="", swept_at=None, version=1, rooms=rooms)
    assert store.workspace("ws") == first
    # Rooms not given keep their rows; given ones are replaced; new ones are added.
    second = store.save_workspace(
        first,
        name="ws",
        first_at=60,
        sweep_cursor="R2",
        swept_at=300,
        rooms={"R2": WorkspaceRoom(250, 300), "R3": WorkspaceRoom(10, None)},
    )
    expected = {"R1": WorkspaceRoom(100, None), "R2": WorkspaceRoom(250, 300), "R3": WorkspaceRoom(10, None)}
    assert second == WorkspaceState("ws", 60, "R2", 300, 2, expected)
    assert store.workspace("ws") == second
    third = store.save_workspace(second, name="ws", first_at=60, sweep_cursor="R3", swept_at=None, rooms={})
    assert (third.version, third.swept_at, third.rooms) == (3, None, expected)
    assert store.workspace("other name") is None
    store.close()


def test_compare_and_set_across_two_store_objects_on_one_file(tmp_path: Path) -> None:
    one, two = opened(tmp_path), opened(tmp_path)
    base = one.save_workspace(None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={})
    seen_by_two = two.workspace("ws")
    assert seen_by_two == base
    winner = one.save_workspace(
        base, name="ws", first_at=1, sweep_cursor="A", swept_at=None, rooms={"A": WorkspaceRoom(5, None)}
    )
    with pytest.raises(CheckpointConflict):  # two read `base` too, and lost the race
        two.save_workspace(
            seen_by_two, name="ws", first_at=9, sweep_cursor="B", swept_at=9, rooms={"B": WorkspaceRoom(9, 9)}
        )
    with pytest.raises(CheckpointConflict):  # creating it again is a conflict too
        two.save_workspace(None, name="ws", first_at=9, sweep_cursor="B", swept_at=9, rooms={})
    assert two.workspace("ws") == winner  # the loser changed nothing, its rooms included
    retried = two.save_workspace(
        winner, name="ws", first_at=9, sweep_cursor="B", swept_at=9, rooms={"B": WorkspaceRoom(9, 9)}
    )
    assert retried.version == 3 and set(retried.rooms) == {"A", "B"}
    assert one.workspace("ws") == retried
    two.close()
    one.close()


def test_a_previous_state_of_another_workspace_is_refused(tmp_path: Path) -> None:
    store = opened(tmp_path)
    a = store.save_workspace(None, name="a", first_at=1, sweep_cursor="", swept_at=None, rooms={})
    store.save_workspace(None, name="b", first_at=1, sweep_cursor="", swept_at=None, rooms={})
    with pytest.raises(ValueError, match="another workspace"):  # both are at version 1: CAS alone would pass
        store.save_workspace(a, name="b", first_at=2, sweep_cursor="", swept_at=None, rooms={})
    store.close()


def test_accounts_are_separate(tmp_path: Path) -> None:
    mine, theirs = opened(tmp_path), opened(tmp_path, OTHER)
    saved = mine.save_workspace(
        None, name="ws", first_at=1, sweep_cursor="R", swept_at=None, rooms={"R": WorkspaceRoom(1, None)}
    )
    assert theirs.workspace("ws") is None
    # The same name is theirs to create from scratch, and their rooms never mix with mine.
    other = theirs.save_workspace(
        None, name="ws", first_at=7, sweep_cursor="", swept_at=7, rooms={"S": WorkspaceRoom(7, 7)}
    )
    assert other.version == 1 and set(other.rooms) == {"S"}
    assert mine.workspace("ws") == saved
    assert theirs.workspace("ws") == other
    theirs.close()
    mine.close()


def test_survives_reopening(tmp_path: Path) -> None:
    store = opened(tmp_path)
    saved = store.save_workspace(
        None,
        name="ws",
        first_at=1_795_000_000_000,
        sweep_cursor="room-b",
        swept_at=1_795_000_100_000,
        rooms={f"room-{c}": WorkspaceRoom(1_795_000_000_000 + i, None if i % 2 else i) for i, c in enumerate("abcde")},
    )
    store.close()
    again = opened(tmp_path)
    assert again.workspace("ws") == saved
    assert again.save_workspace(saved, name="ws", first_at=2, sweep_cursor="", swept_at=None, rooms={}).version == 2
    again.close()


def test_a_migrated_version_1_file_keeps_workspaces(tmp_path: Path) -> None:
    version_1_file(tmp_path)
    store = opened(tmp_path)
    saved = store.save_workspace(
        None, name="ws", first_at=1, sweep_cursor="", swept_at=None, rooms={"R": WorkspaceRoom(1, None)}
    )
    store.close()
    again = opened(tmp_path)
    assert again.workspace("ws") == saved
    again.close()
