"""catch_up and the local history against the emulator over real HTTP: checkpoints, budgets,
rate-limit pacing, concurrency, recalled deletions, edit diffs and room names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from rc_mcp.client import RocketChatClient
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, RateLimiter, serve
from rc_mcp.emulator.runner import RunningEmulator
from rc_mcp.emulator.workspace import Workspace, iso_ms
from rc_mcp.errors import RocketChatError, RoomArchived, RoomNotFound
from rc_mcp.models import SyncResult
from rc_mcp.rules import ArgumentError
from rc_mcp.store import FILE_NAME, MessageStore
from rc_mcp.sync import Reader
from tests.conftest import T0, bare_workspace

pytestmark = pytest.mark.anyio
SINCE = iso_ms(T0)


class Room:
    def __init__(self, workspace: Workspace, room: str, running: RunningEmulator, state: Path) -> None:
        self.workspace, self.room, self.running, self.state = workspace, room, running, state

    @asynccontextmanager
    async def reader(self, *, max_wait: float = 65.0, progress: Any = None) -> AsyncIterator[Reader]:
        settings = Settings.from_env(
            {"ROCKETCHAT_URL": self.running.url, "ROCKETCHAT_USER_ID": "USER", "ROCKETCHAT_AUTH_TOKEN": "user-token"}
        )
        store = MessageStore(self.state / FILE_NAME, "test", max_messages=100_000, max_age_days=30)
        try:
            async with RocketChatClient(settings) as client:
                yield Reader(client, store, max_wait=max_wait, progress=progress)
        finally:
            store.close()

    def sync_calls(self) -> int:
        return len(self.running.emulator.requests_to("/api/v1/chat.syncMessages"))


@contextmanager
def room_with(tmp_path: Path, limiter: RateLimiter | None = None) -> Iterator[Room]:
    ws, room = bare_workspace()
    with serve(Emulator(ws, rate_limiter=limiter)) as running:
        yield Room(ws, room, running, tmp_path)


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    with room_with(tmp_path) as served:
        yield served


def ids(result: SyncResult) -> list[str]:
    return [m.id for m in result.messages] + [d.id for d in result.deleted]


async def drain(reader: Reader, **arguments: Any) -> tuple[list[SyncResult], list[str]]:
    results = []
    while True:
        result = await reader.catch_up(**arguments)
        arguments.pop("since", None)  # only the call that creates the checkpoint may name a start
        results.append(result)
        if result.caught_up:
            return results, [i for r in results for i in ids(r)]
        assert len(results) < 100


async def test_first_look_then_only_what_changed(room: Room) -> None:
    ws = room.workspace
    a = ws.post(room.room, "admin", "the deploy is done", at=T0 + 1000)
    b = ws.post(room.room, "admin", "to be deleted", at=T0 + 2000)
    async with room.reader() as reader:
        first = await reader.catch_up(room_id=room.room, since=SINCE)
        assert ids(first) == [a, b] and first.caught_up
        assert [m.change.kinds for m in first.messages if m.change] == [["new"], ["new"]]
        ws.edit(a, "the deploy is finally done", at=T0 + 3000)
        ws.react(a, "user", ":tada:", at=T0 + 3000)
        ws.delete(b, at=T0 + 4000)
        c = ws.post(room.room, "user", "nice", at=T0 + 5000)
        second = await reader.catch_up(room_id=room.room)
        third = await reader.catch_up(room_id=room.room)
    changed = {m.id: m.change for m in second.messages}
    assert changed[a] is not None and changed[a].kinds == ["edited", "reactions"]
    assert changed[a].diff == '+"finally"'
    assert changed[c] is not None and changed[c].kinds == ["new"]
    (gone,) = second.deleted
    assert gone.id == b and gone.seen_before and gone.recalled is not None and gone.recalled.text == "to be deleted"
    assert second.caught_up and second.watermark == str(T0 + 5000)
    assert ids(third) == [] and third.caught_up and third.watermark == str(T0 + 5000)


async def test_checkpoint_survives_a_restart(room: Room) -> None:
    ws = room.workspace
    ws.post(room.room, "admin", "before", at=T0 + 1)
    async with room.reader() as reader:
        await reader.catch_up(room_id=room.room, checkpoint="daily", since=SINCE)
    after = ws.post(room.room, "admin", "after the restart", at=T0 + 2)
    async with room.reader() as fresh:  # a new process: new client, new store object, same file
        result = await fresh.catch_up(room_id=room.room, checkpoint="daily")
    assert ids(result) == [after]


async def test_checkpoints_are_independent_by_name(room: Room) -> None:
    msg = room.workspace.post(room.room, "admin", "x", at=T0 + 1)
    async with room.reader() as reader:
        await reader.catch_up(room_id=room.room, checkpoint="one", since=SINCE)
        other = await reader.catch_up(room_id=room.room, checkpoint="two", since=SINCE)
    assert ids(other) == [msg]


async def test_budget_pages_lose_nothing_and_spend_few_requests(room: Room) -> None:
    ws = room.workspace
    posted = [ws.post(room.room, "admin", f"m{i}", at=T0 + 1 + i // 5) for i in range(60)]  # bursts of 5 per ms
    deleted = posted[::7]
    for i, msg in enumerate(deleted):
        ws.delete(msg, at=T0 + 500 + i // 3)
    async with room.reader() as reader:
        results, _ = await drain(reader, room_id=room.room, since=SINCE, max_items=7)
    updated_seen = [i for r in results for i in (m.id for m in r.messages)]
    deleted_seen = [i for r in results for i in (d.id for d in r.deleted)]
    assert sorted(updated_seen) == sorted(set(posted) - set(deleted)) and len(updated_seen) == len(set(updated_seen))
    assert sorted(deleted_seen) == sorted(deleted)
    assert all(not r.caught_up for r in results[:-1]) and results[-1].caught_up
    assert all(r.continuation == {"room_id": room.room, "checkpoint": "default", "max_items": 7} for r in results[:-1])
    # Items fetched but not yet shown wait in the store: one large page per stream, not one per call of 7
    # items (which would be 12), plus a last look at each stream once what waited has been shown.
    assert room.sync_calls() <= 5


async def test_watermark_waits_for_both_streams(tmp_path: Path) -> None:
    with room_with(tmp_path, RateLimiter(calls=1, window_ms=60_000)) as room:
        ws = room.workspace
        kept = ws.post(room.room, "admin", "kept", at=T0 + 1)
        gone = ws.post(room.room, "admin", "gone", at=T0 + 2)
        ws.delete(gone, at=T0 + 3)
        async with room.reader(max_wait=0.5) as reader:
            partial = await reader.catch_up(room_id=room.room, since=SINCE)
            assert ids(partial) == [kept] and partial.caught_up is False
            assert partial.retry_after_seconds is not None and partial.retry_after_seconds > 0
            assert partial.watermark is None  # not advanced: the deleted stream was not read
            store = reader.store
            assert store is not None
            checkpoint = store.checkpoint(room.room, "default")
            assert checkpoint is not None and checkpoint.deleted_after == T0 and checkpoint.caught_up_at is None
        room.running.emulator.rate_limiter = None
        async with room.reader() as reader:
            rest = await reader.catch_up(room_id=room.room)
        assert ids(rest) == [gone] and rest.caught_up and rest.deleted[0].recalled is None
        assert rest.deleted[0].seen_before is False


async def test_pacing_under_the_rate_limit_finishes_without_error(tmp_path: Path) -> None:
    with room_with(tmp_path, RateLimiter(calls=2, window_ms=1500)) as room:
        ws = room.workspace
        posted = [ws.post(room.room, "admin", f"m{i}", at=T0 + 1 + i) for i in range(2500)]
        waits: list[tuple[float, float | None, str | None]] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            waits.append((done, total, message))

        async with room.reader(max_wait=5, progress=progress) as reader:
            _, seen = await drain(reader, room_id=room.room, since=SINCE, max_items=1000)
        assert sorted(seen) == sorted(posted)
        assert room.running.emulator.rate_limiter is not None
        assert room.running.emulator.rate_limiter.rejected == 0  # paced: never refused
        assert waits and any("rate-limit window" in (m or "") for _, _, m in waits)
        # ⌈2500/999⌉ pages of updates, one last look at the updated stream once shown, one of the trash.
        assert room.sync_calls() == 5


async def test_concurrent_calls_in_one_process_are_serialised(room: Room) -> None:
    posted = [room.workspace.post(room.room, "admin", f"m{i}", at=T0 + 1 + i) for i in range(40)]
    seen: list[str] = []
    async with room.reader() as reader:
        await reader.catch_up(room_id=room.room, since=SINCE, max_items=1)  # creates the checkpoint

        async def call() -> None:
            seen.extend(ids(await reader.catch_up(room_id=room.room, max_items=10)))

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(call)
        _, rest = await drain(reader, room_id=room.room, max_items=100)
    everything = [posted[0], *seen, *rest]
    assert sorted(everything) == sorted(posted) and len(everything) == len(set(everything))


async def test_concurrent_processes_cannot_corrupt_a_checkpoint(room: Room) -> None:
    posted = [room.workspace.post(room.room, "admin", f"m{i}", at=T0 + 1 + i) for i in range(20)]
    async with room.reader() as first, room.reader() as second:
        await first.catch_up(room_id=room.room, since=SINCE, max_items=1)
        outcomes: list[SyncResult | Exception] = []

        async def call(reader: Reader) -> None:
            try:
                outcomes.append(await reader.catch_up(room_id=room.room, max_items=5))
            except RocketChatError as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(call, first)
            group.start_soon(call, second)
        _, rest = await drain(first, room_id=room.room, max_items=100)
    shown = [i for o in outcomes if isinstance(o, SyncResult) for i in ids(o)]
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert all("Call catch_up again" in str(e) for e in errors)
    everything = [posted[0], *shown, *rest]
    assert sorted(everything) == sorted(posted) and len(everything) == len(set(everything))


async def test_argument_rules(room: Room) -> None:
    async with room.reader() as reader:
        with pytest.raises(ArgumentError, match="room_id is required"):
            await reader.catch_up(room_id=" ")
        with pytest.raises(ArgumentError, match="max_items=0 is out of range"):
            await reader.catch_up(room_id=room.room, max_items=0)
        with pytest.raises(ArgumentError, match="since='soon' is not a valid ISO-8601"):
            await reader.catch_up(room_id=room.room, since="soon")
        with pytest.raises(ArgumentError, match="checkpoint must be a name"):
            await reader.catch_up(room_id=room.room, checkpoint="x" * 65)
        await reader.catch_up(room_id=room.room, since=SINCE)
        with pytest.raises(ArgumentError, match="already exists"):
            await reader.catch_up(room_id=room.room, since=SINCE)
        reader.store = None
        with pytest.raises(ArgumentError, match="needs the local store"):
            await reader.catch_up(room_id=room.room)
    assert room.sync_calls() == 2  # the one valid call: one request per stream


async def test_room_names(room: Room) -> None:
    msg = room.workspace.post(room.room, "admin", "hi", at=T0 + 1)
    archived = room.workspace.add_room("old-project")
    archived.archived = True
    async with room.reader() as reader:
        for given in ("#conformance", "conformance", room.room):
            result = await reader.sync_messages(room_id=given, last_update=SINCE)
            assert (result.room_id, result.room_name, ids(result)) == (room.room, "conformance", [msg])
        with pytest.raises(RoomNotFound, match="not its display name"):
            await reader.sync_messages(room_id="#no-such-room", last_update=SINCE)
        with pytest.raises(RoomArchived, match="Pass the room's id instead"):
            await reader.catch_up(room_id="#old-project")
        with pytest.raises(RoomArchived, match="Pass the room's id instead"):
            await reader.sync_messages(room_id="old-project", last_update=SINCE)
    lookups = room.running.emulator.requests_to("/api/v1/rooms.info")
    # id → found; bare name: id miss, then name hit; '#' misses; bare archived name: id miss, then name.
    assert len(lookups) == 7


async def test_sync_tools_mark_changes_and_recall_deletions(room: Room) -> None:
    ws = room.workspace
    a = ws.post(room.room, "admin", "draft text", at=T0 + 1)
    b = ws.post(room.room, "admin", "bye", at=T0 + 2)
    async with room.reader() as reader:
        await reader.sync_messages(room_id=room.room, next="0")
        ws.edit(a, "final text", at=T0 + 10)
        ws.delete(b, at=T0 + 11)
        updated = await reader.sync_messages(room_id=room.room, next=str(T0 + 2))
        deleted = await reader.list_deleted(room_id=room.room, last_update=SINCE)
        again = await reader.sync_messages(room_id=room.room, last_update=SINCE)
    (edit,) = updated.messages
    assert edit.change is not None and edit.change.kinds == ["edited"] and edit.change.diff == '"draft" → "final"'
    assert deleted.deleted[0].recalled is not None and deleted.deleted[0].recalled.text == "bye"
    assert [m.change.kinds for m in again.messages if m.change] == [["unchanged"]]


async def test_a_429_is_waited_out_when_the_reset_is_near(tmp_path: Path) -> None:
    with room_with(tmp_path, RateLimiter(calls=1, window_ms=1500)) as room:
        msg = room.workspace.post(room.room, "admin", "hi", at=T0 + 1)
        # Another client on the same address spends the window, so rc-mcp's first call meets a 429.
        httpx.get(
            room.running.url + "/api/v1/chat.syncMessages",
            params={"roomId": room.room, "lastUpdate": SINCE},
            headers={"X-User-Id": "USER", "X-Auth-Token": "user-token"},
        )
        waits: list[str | None] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            waits.append(message)

        async with room.reader(max_wait=5, progress=progress) as reader:
            reader._rooms[room.room] = (room.room, "conformance")  # skip the name lookup
            result = await reader.sync_messages(room_id=room.room, last_update=SINCE)
        assert ids(result) == [msg]
        assert room.running.emulator.rate_limiter is not None and room.running.emulator.rate_limiter.rejected == 1
        assert any("rate limit reached" in (m or "") for m in waits)
