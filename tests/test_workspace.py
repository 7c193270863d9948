"""The whole workspace in a few calls: list_rooms, catch_up without a room, and search_history, in
process against the demo workspace (its rooms, DM, mentions, discussion and team)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from rc_mcp import workspace
from rc_mcp.emulator import Emulator, Fault, RateLimiter, demo_workspace
from rc_mcp.emulator.seed import DEMO_START, DemoWorkspace
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.errors import NotAllowed, RocketChatError, ServerUnreachable
from rc_mcp.history import History, HistoryUnavailable
from rc_mcp.models import Room, RoomEntry
from rc_mcp.render import render, room_line
from rc_mcp.results import WorkspaceCatchUp
from rc_mcp.rules import ArgumentError, CatchUpArguments, ListRoomsArguments, SearchArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, HistoryStore, MessageStore, StoreError, open_store
from tests.conftest import SYNC_PATH, T0, Harness, settings_for

pytestmark = pytest.mark.anyio


@dataclass
class Demo:
    demo: DemoWorkspace
    emulator: Emulator
    session: Session

    def requests(self, path: str) -> int:
        return len(self.emulator.requests_to(path))


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    made = demo_workspace()
    emulator = Emulator(made.workspace)
    opened = open_store(tmp_path / FILE_NAME, "demo", max_messages=100_000, max_age_days=3650)
    session = Session(
        settings_for("http://rc.test", made.user_id, made.token),
        transport=httpx.ASGITransport(app=emulator.app),
        history=History(opened.store),
    )
    async with session:
        yield Demo(made, emulator, session)
    if opened.store is not None:
        opened.store.close()


async def look(demo: Demo, **arguments: Any) -> WorkspaceCatchUp:
    result = await demo.session.catch_up(parse(CatchUpArguments, arguments))
    assert isinstance(result, WorkspaceCatchUp)
    return result


async def drain(demo: Demo, **arguments: Any) -> list[WorkspaceCatchUp]:
    looks = [await look(demo, **arguments)]
    arguments.pop("since", None)
    while looks[-1].continuation is not None:
        looks.append(await look(demo, **arguments))
        assert len(looks) < 50
    return looks


def ids(looks: list[WorkspaceCatchUp]) -> tuple[list[str], list[str]]:
    messages = [m.id for result in looks for section in result.sections for m in section.messages]
    deleted = [d.id for result in looks for section in result.sections for d in section.deleted]
    return messages, deleted


# --- list_rooms --------------------------------------------------------------------------------


async def test_list_rooms_most_recent_activity_first_with_counts(demo: Demo) -> None:
    page = await demo.session.list_rooms(parse(ListRoomsArguments, {}))
    names = [room.name for room in page.rooms]
    assert names[:2] == ["@alice", "#platform"] and set(names) >= {"#general", "#dev", "#support-escalations"}
    dm, team = page.rooms[0], page.rooms[1]
    assert (dm.type, dm.unread, dm.mentions) == ("direct message", 2, 1)
    assert team.type == "team" and team.mentions == 2
    assert any(room.type == "discussion" and room.name.startswith('"') for room in page.rooms)
    text = render(page)
    assert text.splitlines()[1].startswith(f"@alice (id {dm.id}) direct message: 2 unread, 1 mention, last message ")
    assert [r["name"] for r in page.structured()["rooms"]] == names


async def test_list_rooms_filters_pages_and_refreshes_with_deltas(demo: Demo) -> None:
    found = await demo.session.list_rooms(parse(ListRoomsArguments, {"query": "DEV"}))
    assert [r.name for r in found.rooms] == ["#dev"]
    first = await demo.session.list_rooms(parse(ListRoomsArguments, {"count": 2}))
    assert len(first.rooms) == 2 and first.continuation == {"count": 2, "offset": 2}
    rest = await demo.session.list_rooms(parse(ListRoomsArguments, first.continuation))
    assert {r.id for r in first.rooms}.isdisjoint({r.id for r in rest.rooms})
    demo.demo.workspace.post(demo.demo.general, "bob", "@mcp-agent lunch?")
    after = await demo.session.list_rooms(parse(ListRoomsArguments, {}))
    assert after.rooms[0].name == "#general" and after.rooms[0].mentions == 1
    deltas = [r for r in demo.emulator.requests_to("/api/v1/rooms.get") if r.query]
    assert len(deltas) == 3 and all(key == "updatedSince" for r in deltas for key, _ in r.query)


# --- catch_up without a room ------------------------------------------------------------------


async def test_a_first_look_shows_every_room_once_urgent_ones_first(demo: Demo) -> None:
    looks = await drain(demo, since=DEMO_START, max_items=40)
    messages, deleted = ids(looks)
    assert_each_shown_once(demo.demo, messages, deleted)
    assert deleted
    assert [s.room_name for s in looks[0].sections][:2] == ["@alice", "platform"]  # a DM and mentions first
    assert all(len([*s.messages, *s.deleted]) for r in looks for s in r.sections)
    assert all(sum(len(s.messages) + len(s.deleted) for s in r.sections) <= 40 for r in looks)
    assert looks[-1].caught_up and not any(r.caught_up for r in looks[:-1])


async def test_later_calls_read_only_rooms_that_changed(demo: Demo) -> None:
    await drain(demo, since=DEMO_START, max_items=1000)
    before = demo.requests(SYNC_PATH)
    ws = demo.demo.workspace
    posted = ws.post(demo.demo.dev, "carol", "new in dev")
    result = await look(demo)
    assert [m.id for s in result.sections for m in s.messages] == [posted]
    # One request for the changed room, and at most two quiet rooms re-read.
    assert demo.requests(SYNC_PATH) - before <= 1 + 2
    assert result.rooms_changed == 1 and result.caught_up


async def test_edits_in_quiet_rooms_are_found_by_the_sweep(demo: Demo) -> None:
    looks = await drain(demo, since=DEMO_START, max_items=1000)
    total = looks[-1].rooms_total
    ws = demo.demo.workspace
    edited = ws.find_updates(demo.demo.support)[0]["_id"]
    ws.edit(edited, "Customer ACME reports 502s on the EU cluster since 08:45 (corrected)")
    seen: list[str] = []
    for _ in range((total + 1) // 2 + 1):  # two quiet rooms a call: every room within ⌈rooms/2⌉ calls
        result = await look(demo)
        seen.extend(m.id for s in result.sections for m in s.messages)
    assert edited in seen
    assert result.swept_at is not None and "whole workspace last swept" in render(result)


async def test_room_and_workspace_checkpoints_never_disturb_each_other(demo: Demo) -> None:
    support = demo.demo.support
    room_level = await demo.session.catch_up(parse(CatchUpArguments, {"room_id": support, "since": DEMO_START}))
    workspace = await drain(demo, since=DEMO_START, max_items=1000)
    in_workspace = [m.id for r in workspace for s in r.sections if s.room_id == support for m in s.messages]
    assert sorted(in_workspace) == sorted(m.id for m in room_level.messages)
    again = await demo.session.catch_up(parse(CatchUpArguments, {"room_id": support}))
    assert again.messages == [] and again.caught_up


async def test_a_spent_rate_limit_pauses_with_a_continuation(demo: Demo) -> None:
    demo.emulator.rate_limiter = RateLimiter(calls=2, window_ms=600_000)
    result = await look(demo, since=DEMO_START)
    assert result.cut_short == "rate_limit" and result.continuation == {"checkpoint": "default"}
    assert render(result).splitlines()[-1].startswith("paused: Rocket.Chat's rate limit stopped this call early; in ")
    demo.emulator.rate_limiter = None
    demo.session.state.window = None  # as when the server's window has reset
    rest = await drain(demo)
    messages, deleted = ids([result, *rest])
    assert_each_shown_once(demo.demo, messages, deleted)


async def test_a_room_has_one_name_whichever_call_learned_it(demo: Demo) -> None:
    general, dm = demo.demo.general, demo.demo.dm
    by_name = await demo.session.catch_up(parse(CatchUpArguments, {"room_id": "#general", "since": DEMO_START}))
    page = await demo.session.list_rooms(parse(ListRoomsArguments, {}))
    ws = demo.demo.workspace
    for entry in page.rooms:  # the room list names rooms as rooms.info does (a DM has no name there)
        expected = Room.from_wire(ws.room_doc(entry.id))
        if entry.type == "direct message":
            expected = Room(id=entry.id, display_name=entry.name, kind=entry.type)
        assert entry.room() == expected
    workspace_look = await look(demo, since=DEMO_START, max_items=1000)
    named = {s.room_id: s.room_name for s in workspace_look.sections}
    # By id, the name comes from the local history, as the calls above left it.
    by_id = [await demo.session.catch_up(parse(CatchUpArguments, {"room_id": room})) for room in (general, dm)]
    assert by_name.room_name == named[general] == by_id[0].room_name == "general"
    assert named[dm] == by_id[1].room_name == "@alice"
    assert render(by_id[0]).startswith(f"catch_up room=#general (id {general}) |")
    assert f"== #general (id {general}):" in render(workspace_look) and f"== @alice (id {dm}):" in render(
        workspace_look
    )
    found = await demo.session.search_history(parse(SearchArguments, {"query": "release"}))
    assert "#general" in render(found) and "##" not in render(found)


async def test_a_discussion_is_called_by_its_title_everywhere(demo: Demo) -> None:
    # Its unique name is generated (rooms §4): the title is what people know it by.
    disc = demo.demo.discussion
    demo.demo.workspace.post(disc, "alice", "Go from QA")
    listed = {room.id: room.name for room in (await demo.session.list_rooms(parse(ListRoomsArguments, {}))).rooms}
    page = await demo.session.sync_messages(parse(UpdatedArguments, {"room_id": disc, "last_update": DEMO_START}))
    looked = await look(demo, since=DEMO_START, max_items=1000)
    (section,) = [s for s in looked.sections if s.room_id == disc]
    assert listed[disc] == page.room_name == section.room_name == '"Release 4.2 go/no-go"'
    assert render(page).startswith(f'sync_messages room="Release 4.2 go/no-go" (id {disc}) |')
    assert f'== "Release 4.2 go/no-go" (id {disc}):' in render(looked)


async def test_rooms_with_nothing_to_show_take_no_room_in_the_answer(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await drain(demo, since=DEMO_START, max_items=1000)
    monkeypatch.setattr(workspace, "SWEEP_PER_CALL", 5)  # five quiet rooms re-read, each with nothing new
    quiet = await look(demo, max_chars=1000)
    assert quiet.rooms_swept == 5 and quiet.sections == []
    assert quiet.caught_up and quiet.continuation is None


async def test_many_rooms_passed_over_make_few_notes(demo: Demo) -> None:
    entries = (await demo.session.list_rooms(parse(ListRoomsArguments, {}))).rooms
    refuse(demo, *(entry.id for entry in entries[1:]))  # all but one
    result = await look(demo, since=DEMO_START, max_items=1000)
    named = workspace.NOTED_ONE_BY_ONE
    assert result.rooms_passed_over == len(entries) - 1 > named and len(result.notes) == named + 1
    assert result.notes[-1] == f"{len(entries) - 1 - named} more rooms were passed over the same way."


async def test_a_second_since_on_a_workspace_checkpoint_is_refused(demo: Demo) -> None:
    await drain(demo, since=DEMO_START, max_items=1000)
    with pytest.raises(ArgumentError, match="already exists"):
        await look(demo, since=DEMO_START)


# --- search_history ---------------------------------------------------------------------------


async def test_search_finds_what_was_seen_and_marks_deletions(demo: Demo) -> None:
    await drain(demo, since=DEMO_START, max_items=1000)
    ws = demo.demo.workspace
    gone = next(d for d in ws.find_updates(demo.demo.support) if "ACME" in d["msg"])
    ws.delete(gone["_id"])
    await look(demo)
    page = await demo.session.search_history(parse(SearchArguments, {"query": "acme 502s"}))
    assert [m.id for m in page.messages] == [gone["_id"]] and page.messages[0].deleted_at is not None
    text = render(page)
    assert "only what rc-mcp has shown before is searched" in text and "#support-escalations" in text
    assert "[deleted " in text and "text recalled from local history" in text
    in_room = await demo.session.search_history(parse(SearchArguments, {"query": "release", "room_id": "#general"}))
    assert in_room.messages and all(m.room_id == demo.demo.general for m in in_room.messages)
    hostile = await demo.session.search_history(parse(SearchArguments, {"query": 'NEAR( "unbalanced * OR -x'}))
    assert hostile.messages == []


async def test_search_says_when_history_is_off_or_the_query_has_no_words(demo: Demo) -> None:
    with pytest.raises(ArgumentError, match="has no words"):
        await demo.session.search_history(parse(SearchArguments, {"query": '"" *** --'}))
    made = demo_workspace()
    transport = httpx.ASGITransport(app=Emulator(made.workspace).app)
    async with Session(settings_for("http://rc.test", made.user_id, made.token), transport=transport) as session:
        with pytest.raises(HistoryUnavailable, match="search_history needs the local history"):
            await session.search_history(parse(SearchArguments, {"query": "release"}))


# --- a failure part way through a call loses nothing --------------------------------------------


class Failing(httpx.AsyncBaseTransport):
    """The emulator, except that the ``nth`` chat.syncMessages request of the session fails with ``failure``."""

    def __init__(self, emulator: Emulator, nth: int, failure: str) -> None:
        self.inner = httpx.ASGITransport(app=emulator.app)
        self.emulator = emulator
        self.nth = nth
        self.failure = failure
        self.sync_requests = 0
        self.call = anyio.CancelScope()  # the scope of the tool call under way

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == SYNC_PATH:
            self.sync_requests += 1
            if self.sync_requests == self.nth:
                self.fail()
        return await self.inner.handle_async_request(request)

    def fail(self) -> None:
        if self.failure == "unreachable":
            raise httpx.ConnectError("connection refused")
        if self.failure == "a bug":
            raise RuntimeError("a bug in rc-mcp or a library")
        if self.failure in ("deadline", "client cancel"):
            # The tool's own deadline (server.py's fail_after) passing, or the host cancelling the call
            # (notifications/cancelled): the call's scope is cancelled.
            self.call.cancel()
        elif self.failure == "not allowed":
            body = b'{"success":false,"error":"error-not-allowed","errorType":"error-not-allowed"}'
            self.emulator.faults.arm(SYNC_PATH, Fault.raw(400, body, [("content-type", "application/json")]))
        else:
            self.emulator.faults.arm(SYNC_PATH, Fault.http_500_json())


class FailingStore:
    """A real local history whose method ``failing`` fails on its ``nth`` call, as a full disk or a
    damaged file would make it (``error``), or as a bug would (any other exception)."""

    def __init__(
        self, store: HistoryStore, failing: str, nth: int | None, error: Exception | None = None
    ) -> None:  # nth None: every call
        self.store = store
        self.failing = failing
        self.nth = nth
        self.error = error or StoreError("disk I/O error")
        self.saves = 0

    def __getattr__(self, name: str) -> Any:
        if name != self.failing:
            return getattr(self.store, name)

        def save(*args: Any, **kwargs: Any) -> Any:
            self.saves += 1
            if self.nth in (None, self.saves):
                raise self.error
            return getattr(self.store, name)(*args, **kwargs)

        return save


async def every_id_shown(session: Session, transport: Failing | None = None) -> tuple[list[str], list[str], int]:
    """Workspace catch-ups from the demo's start until caught up, as an agent makes them: after an
    error it calls again. Every message and deletion id any answer showed, and how many calls failed."""
    messages: list[str] = []
    deleted: list[str] = []
    failed = 0
    arguments: dict[str, Any] = {"since": DEMO_START}
    for _ in range(30):
        try:
            with anyio.CancelScope() as call:
                if transport is not None:
                    transport.call = call
                result = await session.catch_up(parse(CatchUpArguments, arguments))
        except Exception:  # the agent reads the error (an unexpected one too) and calls again
            failed += 1
            continue
        if call.cancelled_caught:  # the agent gets "did not finish within …" and calls again
            failed += 1
            continue
        if transport is not None and transport.failure == "client cancel" and call.cancel_called:
            # The host cancelled: the SDK drops the answer, whatever the call returns. The agent calls again.
            failed += 1
            continue
        assert isinstance(result, WorkspaceCatchUp)
        arguments.pop("since", None)  # the checkpoint exists now
        messages.extend(m.id for section in result.sections for m in section.messages)
        deleted.extend(d.id for section in result.sections for d in section.deleted)
        if result.caught_up:
            return messages, deleted, failed
    raise AssertionError("never caught up")


def assert_each_shown_once(demo: DemoWorkspace, messages: list[str], deleted: list[str]) -> None:
    """Every message and deletion of the rooms the agent is in was shown, each exactly once."""
    ws = demo.workspace
    rooms = [room for room in ws.rooms if ws.can_access(demo.user_id, room)]
    expected = [d["_id"] for room in rooms for d in ws.find_updates(room)]
    expected_deleted = [d["_id"] for room in rooms for d in ws.find_deleted(room)]
    lost = len(set(expected) - set(messages)) + len(set(expected_deleted) - set(deleted))
    assert not lost, f"{lost} of {len(expected) + len(expected_deleted)} changes never reached the agent"
    assert (sorted(messages), sorted(deleted)) == (sorted(expected), sorted(expected_deleted))


@pytest.mark.parametrize("failure", ["unreachable", "http 500", "not allowed", "deadline", "client cancel", "a bug"])
@pytest.mark.parametrize("nth", range(1, 7))  # the first look reads 6 rooms, one request each
async def test_a_request_failing_part_way_through_loses_nothing(tmp_path: Path, failure: str, nth: int) -> None:
    made = demo_workspace()
    emulator = Emulator(made.workspace)
    transport = Failing(emulator, nth, failure)
    opened = open_store(tmp_path / FILE_NAME, "demo", max_messages=100_000, max_age_days=3650)
    assert opened.store is not None
    settings = settings_for("http://rc.test", made.user_id, made.token)
    async with Session(settings, transport=transport, history=History(opened.store)) as session:
        messages, deleted, _ = await every_id_shown(session, transport)
    opened.store.close()
    assert transport.sync_requests >= nth  # the failure happened
    assert_each_shown_once(made, messages, deleted)


@pytest.mark.parametrize("error", [StoreError("disk I/O error"), RuntimeError("a bug")], ids=["store", "bug"])
@pytest.mark.parametrize(
    ("failing", "nth"), [*(("save_checkpoint", nth) for nth in range(1, 7)), ("save_workspace", 1)]
)
async def test_a_checkpoint_failing_part_way_through_loses_nothing(
    tmp_path: Path, failing: str, nth: int, error: Exception
) -> None:
    made = demo_workspace()
    opened = open_store(tmp_path / FILE_NAME, "demo", max_messages=100_000, max_age_days=3650)
    assert opened.store is not None
    store = FailingStore(opened.store, failing, nth, error)
    settings = settings_for("http://rc.test", made.user_id, made.token)
    transport = httpx.ASGITransport(app=Emulator(made.workspace).app)
    async with Session(settings, transport=transport, history=History(store)) as session:  # type: ignore[arg-type]
        messages, deleted, failed = await every_id_shown(session)
    opened.store.close()
    assert store.saves >= nth and failed == (1 if nth == 1 and failing == "save_checkpoint" else 0)
    assert_each_shown_once(made, messages, deleted)


async def test_a_partial_answer_says_once_which_room_failed_and_how_to_go_on(demo: Demo) -> None:
    demo.emulator.faults.script(SYNC_PATH, [Fault.passthrough(), Fault.passthrough(), Fault.http_502_html()])
    result = await look(demo, since=DEMO_START, max_items=1000)
    assert [s.room_name for s in result.sections] == ["@alice", "platform"]
    assert not result.caught_up and result.continuation == {"checkpoint": "default", "max_items": 1000}
    (note,) = result.notes
    assert note.startswith("catch_up stopped at #dev (id ") and "HTTP 502" in note and "\n" not in note
    text = render(result)
    assert text.count("catch_up stopped at") == 1
    assert text.splitlines()[-1] == 'more: call catch_up {"checkpoint":"default","max_items":1000}'
    rest = await look(demo, max_items=1000)
    assert rest.sections[0].room_name == "dev" and rest.caught_up and not rest.notes


async def test_a_first_room_failing_fails_the_call_and_saves_nothing(demo: Demo) -> None:
    demo.emulator.faults.arm(SYNC_PATH, Fault.http_500_json())
    with pytest.raises(RocketChatError, match="HTTP 500"):
        await look(demo, since=DEMO_START)
    assert demo.session.catch_ups.store().workspace("default") is None


def refuse(demo: Demo, *rooms: str) -> Callable[[], None]:
    """The server refuses these rooms to the account (error-not-allowed), as after it was removed from
    them while its subscriptions still list them; returns how to give the access back."""
    ws = demo.demo.workspace
    allowed = ws.can_access
    ws.can_access = lambda user_id, room_id: room_id not in rooms and allowed(user_id, room_id)  # type: ignore[method-assign]
    return lambda: setattr(ws, "can_access", allowed)


async def test_a_room_the_account_may_not_read_is_passed_over_and_tried_again(demo: Demo) -> None:
    dm = demo.demo.dm  # the most urgent room: read first
    give_back = refuse(demo, dm)
    first = await look(demo, since=DEMO_START, max_items=1000)
    assert not first.caught_up and first.continuation is None  # calling again at once would not help
    assert first.rooms_passed_over == 1 and dm not in [s.room_id for s in first.sections]
    assert len(first.sections) >= 3  # every other room was read
    (note,) = first.notes
    assert note.startswith(f"@alice (id {dm}) was passed over: ") and "later calls try it again" in note
    assert render(first).splitlines()[-1].startswith("end: caught up in every room but the 1 room passed over")
    tried = len([r for r in demo.emulator.requests_to(SYNC_PATH) if dict(r.query).get("roomId") == dm])
    again = await look(demo, max_items=1000)
    assert again.rooms_passed_over == 1 and again.sections == []
    assert len([r for r in demo.emulator.requests_to(SYNC_PATH) if dict(r.query).get("roomId") == dm]) == tried + 1
    give_back()
    later = await look(demo, max_items=1000)
    (section,) = later.sections  # nothing of it was lost while it could not be read
    assert section.room_id == dm and len(section.messages) == 2 and later.rooms_passed_over == 0 and not later.notes
    assert later.caught_up


async def test_when_no_room_can_be_read_the_call_fails(demo: Demo) -> None:
    entries = (await demo.session.list_rooms(parse(ListRoomsArguments, {}))).rooms
    refuse(demo, *(entry.id for entry in entries))
    with pytest.raises(NotAllowed):
        await look(demo, since=DEMO_START)
    assert demo.session.catch_ups.store().workspace("default") is None


async def test_no_room_is_read_once_only_the_time_to_save_is_left(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspace, "SAVE_SECONDS", 3600.0)
    with anyio.fail_after(1800):  # as server.py's deadline, far off: only the time kept back for saving has come
        with pytest.raises(ServerUnreachable, match="did not finish answering in time"):
            await look(demo, since=DEMO_START)
    assert demo.requests(SYNC_PATH) == 0


async def test_each_note_is_said_once_and_every_room_note_is_shown(harness: Harness) -> None:
    ws = harness.workspace
    for name in ("one", "two"):
        ws.post(ws.add_room(name, members=["user"], at=T0).id, "admin", f"hello {name}", at=T0 + 1000)

    def one_row_without_an_id(request: httpx.Request, body: Any) -> Any:
        if request.url.path == SYNC_PATH and isinstance(body.get("result"), dict):
            body["result"]["updated"].append({"_id": "", "msg": "no id", "ts": iso_ms(T0 + 2000)})
        return body

    harness.mangle(one_row_without_an_id)
    store = MessageStore(harness.state_dir / FILE_NAME, "USER", max_messages=1000, max_age_days=30)
    history = History(FailingStore(store, "known", None))  # type: ignore[arg-type]
    async with Session(harness.settings, transport=harness.transport, history=history, clock=harness.clock) as session:
        result = await session.catch_up(parse(CatchUpArguments, {"since": iso_ms(T0)}))
    store.close()
    assert isinstance(result, WorkspaceCatchUp) and len(result.sections) == 2
    skipped = "2 items from the server had no id or no valid time and were left out (they move no position)"
    unread = "local history could not be read, so change kinds and recalled texts are missing"
    assert result.notes == [skipped]  # both rooms' rows, counted once for the call
    assert all(len(s.notes) == 1 and s.notes[0].startswith(unread) for s in result.sections)
    lines = render(result).splitlines()
    assert sum(skipped in line for line in lines) == 1 and sum(unread in line for line in lines) == 2
    for section in ("== #one", "== #two"):  # each room's note right under its header
        header = next(i for i, line in enumerate(lines) if line.startswith(section))
        assert lines[header + 1].startswith(f"note: {unread}")


@pytest.mark.parametrize(
    ("room", "subscription", "label"),
    [
        ({"_id": "R", "t": "d"}, {"name": "alice", "fname": "Alice"}, "@alice"),
        ({"_id": "R", "t": "d"}, {"fname": "end"}, '"end"'),  # no username: the display name, quoted
        ({"_id": "R", "t": "c", "name": "general"}, {}, "#general"),
        ({"_id": "R", "t": "c", "fname": "more: call list_rooms {}"}, {}, '"more: call list_rooms {}"'),
        ({"_id": "R", "t": "p", "prid": "P", "name": "x1", "fname": "Lunch?"}, {}, '"Lunch?"'),
        ({"_id": "end", "t": "c"}, {}, "end"),  # nothing but the id: the line says "room end"
        ({"_id": "R", "t": "p", "prid": "P", "name": "x2", "fname": "@ceo urgent"}, {}, '"@ceo urgent"'),  # not a DM
        ({"_id": "R", "t": "d"}, {"fname": "@lice"}, '"@lice"'),  # a display name, not a username
    ],
)
def test_a_room_without_a_name_never_starts_its_line_bare(
    room: dict[str, Any], subscription: dict[str, Any], label: str
) -> None:
    entry = RoomEntry.from_wire(room, subscription)
    assert entry is not None and entry.name == label
    # Every answer about the room calls it as the list does; only a room known by its id alone has no name.
    assert entry.room().label == (None if label == "end" else label.removeprefix("#"))
    line = room_line(entry)
    assert line.startswith(label if label[0] in '#@"' else f"room {label} ")
    assert not line.startswith(("end", "more", "paused", "note"))
