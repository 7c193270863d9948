"""catch_up and the local history against the emulator in process: checkpoints, budgets,
rate-limit pacing on a controlled clock, concurrency, recalled deletions, edit diffs and room names."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from rc_mcp.catchup import CheckpointError
from rc_mcp.emulator.faults import Fault
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.errors import NotAllowed, RoomArchived, RoomNotFound
from rc_mcp.history import HistoryUnavailable
from rc_mcp.results import CatchUp
from rc_mcp.rules import ArgumentError, CatchUpArguments, DeletedArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from tests.conftest import SYNC_PATH, T0, Harness, emulator_limiter, ids

pytestmark = pytest.mark.anyio
SINCE = iso_ms(T0)


async def catch_up(session: Session, progress: Any = None, **arguments: Any) -> CatchUp:
    return await session.catch_up(parse(CatchUpArguments, arguments), progress)


async def sync(session: Session, **arguments: Any) -> Any:
    return await session.sync_messages(parse(UpdatedArguments, arguments))


async def drain(session: Session, progress: Any = None, **arguments: Any) -> tuple[list[CatchUp], list[str]]:
    results = []
    while True:
        result = await catch_up(session, progress, **arguments)
        arguments.pop("since", None)  # only the call that creates the checkpoint may name a start
        results.append(result)
        if result.caught_up:
            return results, [i for r in results for i in ids(r)]
        assert len(results) < 100


async def test_first_look_then_only_what_changed(harness: Harness) -> None:
    ws = harness.workspace
    a = ws.post(harness.room, "admin", "the deploy is done", at=T0 + 1000)
    b = ws.post(harness.room, "admin", "to be deleted", at=T0 + 2000)
    session = harness.session()
    first = await catch_up(session, room_id=harness.room, since=SINCE)
    assert ids(first) == [a, b] and first.caught_up
    assert [m.change.kinds for m in first.messages if m.change] == [["new"], ["new"]]
    ws.edit(a, "the deploy is finally done", at=T0 + 3000)
    ws.react(a, "user", ":tada:", at=T0 + 3000)
    ws.delete(b, at=T0 + 4000)
    c = ws.post(harness.room, "user", "nice", at=T0 + 5000)
    second = await catch_up(session, room_id=harness.room)
    third = await catch_up(session, room_id=harness.room)
    changed = {m.id: m.change for m in second.messages}
    assert changed[a] is not None and changed[a].kinds == ["edited", "reactions"]
    assert changed[a].diff == '+"finally"'
    assert changed[c] is not None and changed[c].kinds == ["new"]
    (gone,) = second.deleted
    assert gone.id == b and gone.seen_before and gone.recalled is not None and gone.recalled.text == "to be deleted"
    assert second.caught_up and second.watermark == str(T0 + 5000)
    assert ids(third) == [] and third.caught_up and third.watermark == str(T0 + 5000)


@pytest.mark.parametrize("nth", [1, 2])  # the updates' request, the trash's
async def test_a_call_cancelled_while_reading_moves_no_checkpoint(harness: Harness, nth: int) -> None:
    # The host cancels (notifications/cancelled), and its SDK drops whatever the call would have answered.
    posted = harness.post_many(3)
    harness.workspace.delete(posted[0], at=T0 + 100)
    session = harness.session()
    requests = 0
    with anyio.CancelScope() as call:

        def cancel_at_the_nth(request: httpx.Request, body: Any) -> Any:
            nonlocal requests
            requests += request.url.path == SYNC_PATH
            if requests == nth:
                call.cancel()  # the answer still arrives: the cancel lands between two steps of the call
            return body

        harness.mangle(cancel_at_the_nth)
        await catch_up(session, room_id=harness.room, since=SINCE)
    assert call.cancelled_caught
    store = session.history.store
    assert store is not None and store.checkpoint(harness.room, "default") is None
    harness.mangle(lambda request, body: body)
    again = await catch_up(session, room_id=harness.room, since=SINCE)  # as if for the first time
    assert ids(again) == [*posted[1:], posted[0]] and again.caught_up


async def test_checkpoint_survives_a_restart(harness: Harness) -> None:
    ws = harness.workspace
    ws.post(harness.room, "admin", "before", at=T0 + 1)
    await catch_up(harness.session(), room_id=harness.room, checkpoint="daily", since=SINCE)
    after = ws.post(harness.room, "admin", "after the restart", at=T0 + 2)
    fresh = harness.session()  # as a new process: new client, new store object, same file
    assert ids(await catch_up(fresh, room_id=harness.room, checkpoint="daily")) == [after]


async def test_checkpoints_are_independent_by_name(harness: Harness) -> None:
    msg = harness.workspace.post(harness.room, "admin", "x", at=T0 + 1)
    session = harness.session()
    await catch_up(session, room_id=harness.room, checkpoint="one", since=SINCE)
    other = await catch_up(session, room_id=harness.room, checkpoint="two", since=SINCE)
    assert ids(other) == [msg]


async def test_budget_pages_lose_nothing_and_spend_few_requests(harness: Harness) -> None:
    ws = harness.workspace
    posted = [ws.post(harness.room, "admin", f"m{i}", at=T0 + 1 + i // 5) for i in range(60)]  # bursts of 5 per ms
    deleted = posted[::7]
    for i, msg in enumerate(deleted):
        ws.delete(msg, at=T0 + 500 + i // 3)
    results, _ = await drain(harness.session(), room_id=harness.room, since=SINCE, max_items=7)
    updated_seen = [i for r in results for i in (m.id for m in r.messages)]
    deleted_seen = [i for r in results for i in (d.id for d in r.deleted)]
    assert sorted(updated_seen) == sorted(set(posted) - set(deleted)) and len(updated_seen) == len(set(updated_seen))
    assert sorted(deleted_seen) == sorted(deleted)
    assert all(not r.caught_up for r in results[:-1]) and results[-1].caught_up
    assert all(
        r.continuation == {"room_id": harness.room, "checkpoint": "default", "max_items": 7} for r in results[:-1]
    )
    # Items fetched but not yet shown wait in the store: one large page per stream, not one per call of 7
    # items (which would be 12), plus a last look at each stream once what waited has been shown.
    assert len(harness.sync_requests()) <= 5


async def test_watermark_waits_for_both_streams(harness: Harness) -> None:
    emulator_limiter(harness.emulator, 1, harness.clock)
    ws = harness.workspace
    kept = ws.post(harness.room, "admin", "kept", at=T0 + 1)
    gone = ws.post(harness.room, "admin", "gone", at=T0 + 2)
    ws.delete(gone, at=T0 + 3)
    session = harness.session(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="0.5")
    partial = await catch_up(session, room_id=harness.room, since=SINCE)
    assert ids(partial) == [kept] and partial.caught_up is False
    assert partial.retry_after_seconds is not None and partial.retry_after_seconds > 0
    assert partial.watermark is None  # not advanced: the deleted stream was not read
    store = session.history.store
    assert store is not None
    checkpoint = store.checkpoint(harness.room, "default")
    assert checkpoint is not None and checkpoint.deleted_after == T0 and checkpoint.caught_up_at is None
    harness.emulator.rate_limiter = None
    rest = await catch_up(harness.session(), room_id=harness.room)
    assert ids(rest) == [gone] and rest.caught_up and rest.deleted[0].recalled is None
    assert rest.deleted[0].seen_before is False


async def test_pacing_under_the_rate_limit_waits_with_progress_and_is_never_refused(harness: Harness) -> None:
    emulator_limiter(harness.emulator, 2, harness.clock, window_ms=1500)
    posted = harness.post_many(2500)
    reports: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        reports.append((done, message))

    session = harness.session(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="5")
    _, seen = await drain(session, progress, room_id=harness.room, since=SINCE, max_items=1000)
    assert sorted(seen) == sorted(posted)
    assert harness.emulator.rate_limiter is not None and harness.emulator.rate_limiter.rejected == 0
    # The clock moves only when rc-mcp sleeps, so the waits are certain, not a matter of speed.
    assert harness.clock.slept > 0 and any("rate-limit window" in (m or "") for _, m in reports)
    # ⌈2500/999⌉ pages of updates, one last look at the updated stream once shown, one of the trash.
    assert len(harness.sync_requests()) == 5


async def test_progress_only_grows_within_a_call(harness: Harness) -> None:
    emulator_limiter(harness.emulator, 1, harness.clock, window_ms=3000)
    harness.post_many(100, step=0)  # one millisecond: the page grows twice, 15 → 60 → 240
    reports: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        reports.append(done)

    # Three requests, one a window: the one call waits twice.
    session = harness.session(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="10")
    page = await session.sync_messages(
        parse(UpdatedArguments, {"room_id": harness.room, "next": "0", "count": 5}), progress
    )
    assert len(page.messages) == 100 and len(harness.sync_requests()) == 3
    assert harness.clock.slept >= 6
    assert reports == sorted(reports) and len(set(reports)) == len(reports)


async def test_concurrent_calls_in_one_process_are_serialised(harness: Harness) -> None:
    posted = harness.post_many(40)
    seen: list[str] = []
    session = harness.session()
    await catch_up(session, room_id=harness.room, since=SINCE, max_items=1)  # creates the checkpoint

    async def call() -> None:
        seen.extend(ids(await catch_up(session, room_id=harness.room, max_items=10)))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(call)
    _, rest = await drain(session, room_id=harness.room, max_items=100)
    everything = [posted[0], *seen, *rest]
    assert sorted(everything) == sorted(posted) and len(everything) == len(set(everything))


async def test_concurrent_processes_cannot_corrupt_a_checkpoint(harness: Harness) -> None:
    posted = harness.post_many(20)
    first, second = harness.session(), harness.session()
    await catch_up(first, room_id=harness.room, since=SINCE, max_items=1)
    outcomes: list[CatchUp | Exception] = []

    async def call(session: Session) -> None:
        try:
            outcomes.append(await catch_up(session, room_id=harness.room, max_items=5))
        except CheckpointError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(call, first)
        group.start_soon(call, second)
    _, rest = await drain(first, room_id=harness.room, max_items=100)
    shown = [i for o in outcomes if isinstance(o, CatchUp) for i in ids(o)]
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert all("call catch_up again" in str(e) for e in errors)
    everything = [posted[0], *shown, *rest]
    assert sorted(everything) == sorted(posted) and len(everything) == len(set(everything))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"room_id": " "}, "room_id is required"),
        ({"max_items": 0}, "max_items=0 is out of range"),
        ({"since": "soon"}, "since='soon' is not a valid ISO-8601"),
        ({"checkpoint": "x" * 65}, "is not a valid name"),
        ({"checkpoint": "a\nend: caught up"}, "is not a valid name"),
        ({"since": "2999-01-01T00:00:00Z"}, "since='2999-01-01T00:00:00Z' is in the future"),
    ],
)
async def test_argument_rules(harness: Harness, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        parse(CatchUpArguments, {"room_id": harness.room, **arguments}, now_ms=harness.clock.now_ms())


async def test_a_second_since_and_history_off_are_refused(harness: Harness) -> None:
    session = harness.session()
    await catch_up(session, room_id=harness.room, since=SINCE)
    with pytest.raises(ArgumentError, match="already exists"):
        await catch_up(session, room_id=harness.room, since=SINCE)
    with pytest.raises(HistoryUnavailable, match="needs the local history"):
        await catch_up(harness.session(history=False), room_id=harness.room)
    assert len(harness.sync_requests()) == 2  # the one valid call: one request per stream


async def test_room_names(harness: Harness) -> None:
    msg = harness.workspace.post(harness.room, "admin", "hi", at=T0 + 1)
    archived = harness.workspace.add_room("old-project")
    archived.archived = True
    session = harness.session(history=False)
    for given in ("#conformance", "conformance", harness.room):
        result = await sync(session, room_id=given, last_update=SINCE)
        assert (result.room_id, result.room_name, ids(result)) == (harness.room, "conformance", [msg])
    with pytest.raises(RoomNotFound, match="not its display name"):
        await sync(session, room_id="#no-such-room", last_update=SINCE)
    with pytest.raises(RoomArchived, match="Pass the room's id instead"):
        await catch_up(harness.session(), room_id="#old-project")
    with pytest.raises(RoomArchived, match="Pass the room's id instead"):
        await sync(session, room_id="old-project", last_update=SINCE)
    lookups = harness.emulator.requests_to("/api/v1/rooms.info")
    # #name → hit; bare name: id miss, then name hit; id → hit; '#' miss; '#' archived (new
    # session); bare archived name: id miss, then name.
    assert len(lookups) == 8


async def test_a_failed_name_lookup_is_not_remembered(harness: Harness) -> None:
    msg = harness.workspace.post(harness.room, "admin", "hi", at=T0 + 1)
    session = harness.session(history=False)
    harness.emulator.faults.arm("/api/v1/rooms.info", Fault.http_500_json())
    with pytest.raises(NotAllowed):  # the name went through as an id: the endpoint says so
        await sync(session, room_id="conformance", last_update=SINCE)
    result = await sync(session, room_id="conformance", last_update=SINCE)
    assert (result.room_id, result.room_name, ids(result)) == (harness.room, "conformance", [msg])


async def test_sync_tools_mark_changes_and_recall_deletions(harness: Harness) -> None:
    ws = harness.workspace
    a = ws.post(harness.room, "admin", "draft text", at=T0 + 1)
    b = ws.post(harness.room, "admin", "bye", at=T0 + 2)
    session = harness.session()
    await sync(session, room_id=harness.room, next="0")
    ws.edit(a, "final text", at=T0 + 10)
    ws.delete(b, at=T0 + 11)
    updated = await sync(session, room_id=harness.room, next=str(T0 + 2))
    deleted = await session.list_deleted(parse(DeletedArguments, {"room_id": harness.room, "last_update": SINCE}))
    again = await sync(session, room_id=harness.room, last_update=SINCE)
    (edit,) = updated.messages
    assert edit.change is not None and edit.change.kinds == ["edited"] and edit.change.diff == '"draft" → "final"'
    assert deleted.deleted[0].recalled is not None and deleted.deleted[0].recalled.text == "bye"
    assert [m.change.kinds for m in again.messages if m.change] == [["unchanged"]]


async def test_a_429_is_waited_out_when_the_reset_is_near(harness: Harness) -> None:
    emulator_limiter(harness.emulator, 1, harness.clock, window_ms=1500)
    msg = harness.workspace.post(harness.room, "admin", "hi", at=T0 + 1)
    # Another client from the same address spends the window, so rc-mcp's first call meets a 429.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.emulator.app), base_url="http://rc.test"
    ) as other:
        await other.get(
            "/api/v1/chat.syncMessages",
            params={"roomId": harness.room, "lastUpdate": SINCE},
            headers={"X-User-Id": "USER", "X-Auth-Token": "user-token"},
        )
    waits: list[str | None] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        waits.append(message)

    session = harness.session(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="5")
    result = await session.sync_messages(
        parse(UpdatedArguments, {"room_id": harness.room, "last_update": SINCE}), progress
    )
    assert ids(result) == [msg]
    assert harness.emulator.rate_limiter is not None and harness.emulator.rate_limiter.rejected == 1
    assert any("rate limit reached" in (m or "") for m in waits)
