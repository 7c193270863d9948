"""The stream tools' logic (sync_messages, list_deleted) against the emulator in process: windows,
continuations from positions, lossless paging through same-millisecond bursts, the requests that
reach the server, and how much is fetched for what is shown."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from rc_mcp.client import SyncQuery, SyncType
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.paging import DELETED_FIRST_PAGE, GROWTH
from rc_mcp.results import StreamPage
from rc_mcp.rules import DEFAULT_CHARS, DeletedArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from tests.conftest import T0, Harness, ids

pytestmark = pytest.mark.anyio


async def call(session: Session, tool: str, arguments: dict[str, Any]) -> StreamPage:
    if tool == "sync_messages":
        return await session.sync_messages(parse(UpdatedArguments, arguments))
    return await session.list_deleted(parse(DeletedArguments, arguments))


async def follow(
    session: Session, tool: str, arguments: dict[str, Any] | None, limit: int = 500, between: Any = None
) -> tuple[list[str], int]:
    """Call, then keep calling with the continuation until there is none; all ids seen, calls made."""
    seen: list[str] = []
    calls = 0
    while arguments is not None and calls < limit:
        result = await call(session, tool, arguments)
        calls += 1
        seen.extend(ids(result))
        if between is not None:
            between(calls)
        arguments = result.continuation
    return seen, calls


async def test_last_update_pages_continue_from_a_position(harness: Harness) -> None:
    posted = harness.post_many(7, step=1000)
    session = harness.session()
    result = await call(session, "sync_messages", {"room_id": harness.room, "last_update": iso_ms(T0), "count": 3})
    assert ids(result) == posted[:3]
    assert result.continuation == {"room_id": harness.room, "next": str(T0 + 2001), "count": 3}
    seen, calls = await follow(
        session, "sync_messages", {"room_id": harness.room, "last_update": iso_ms(T0), "count": 3}
    )
    assert seen == posted and calls == 3
    assert result.watermark == str(T0 + 2001)


async def test_a_deletion_between_calls_loses_nothing(harness: Harness) -> None:
    """The loss the old offset continuation had: an already shown message deleted between calls
    shifted every later one, so one was skipped silently."""
    posted = harness.post_many(9, step=10)
    session = harness.session()
    first = await call(session, "sync_messages", {"room_id": harness.room, "last_update": iso_ms(T0), "count": 3})
    harness.workspace.delete(posted[0], at=T0 + 500)
    added = harness.workspace.post(harness.room, "admin", "late", at=T0 + 600)
    rest, _ = await follow(session, "sync_messages", first.continuation)
    assert ids(first) + rest == [*posted, added]


async def test_rows_fetched_stay_under_twice_the_items_shown(harness: Harness) -> None:
    posted = harness.post_many(1000, step=3)
    session = harness.session()
    seen, calls = await follow(
        session, "sync_messages", {"room_id": harness.room, "last_update": iso_ms(T0), "count": 50}
    )
    assert seen == posted and calls == 20
    assert harness.rows_fetched < 2 * len(posted)


async def test_last_update_sort_orders_each_page(harness: Harness) -> None:
    ws = harness.workspace
    a = ws.post(harness.room, "user", "a", at=T0 + 1)
    b = ws.post(harness.room, "admin", "b", at=T0 + 2)
    ws.edit(a, "a2", at=T0 + 3)
    session = harness.session()
    since = {"room_id": harness.room, "last_update": iso_ms(T0)}
    assert ids(await call(session, "sync_messages", since)) == [a, b]  # by time sent
    assert ids(await call(session, "sync_messages", {**since, "sort": {"ts": -1}})) == [b, a]
    assert ids(await call(session, "sync_messages", {**since, "sort": {"_updatedAt": -1}})) == [a, b]
    by_author = await call(session, "sync_messages", {**since, "sort": '{"u.username": 1}'})
    assert ids(by_author) == [b, a] and by_author.continuation is None


async def test_cursor_mode_reads_forward_and_backward(harness: Harness) -> None:
    posted = harness.post_many(5, step=10, start=T0 + 10)
    session = harness.session()
    first = await call(session, "sync_messages", {"room_id": harness.room, "next": "0", "count": 2})
    assert ids(first) == posted[:2]
    assert (first.next_cursor, first.previous_cursor) == (str(T0 + 20), str(T0 + 10))
    back = await call(session, "sync_messages", {"room_id": harness.room, "previous": str(T0 + 1000), "count": 2})
    assert ids(back) == [posted[4], posted[3]]
    assert (back.next_cursor, back.previous_cursor) == (str(T0 + 50), str(T0 + 40))
    last = await call(session, "sync_messages", {"room_id": harness.room, "next": str(T0 + 40), "count": 2})
    assert ids(last) == posted[4:] and last.next_cursor is None and last.continuation is None
    assert last.watermark == str(T0 + 50)


async def test_offset_and_sort_in_cursor_mode(harness: Harness) -> None:
    posted = harness.post_many(6, step=10, start=T0 + 10)
    session = harness.session()
    result = await call(
        session, "sync_messages", {"room_id": harness.room, "next": "0", "count": 2, "offset": 1, "sort": {"ts": -1}}
    )
    assert ids(result) == [posted[2], posted[1]]
    assert result.next_cursor == str(T0 + 30)
    assert result.continuation == {"room_id": harness.room, "next": str(T0 + 30), "count": 2, "sort": {"ts": -1}}


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("direction", ["next", "previous"])
async def test_updated_cursors_are_lossless_through_bursts(harness: Harness, count: int, direction: str) -> None:
    stamps = [T0 + 1] * 4 + [T0 + 2] + [T0 + 3] * 9 + [T0 + 4] * 2 + [T0 + 5] * 3
    posted = [harness.workspace.post(harness.room, "admin", f"m{i}", at=at) for i, at in enumerate(stamps)]
    start = "0" if direction == "next" else str(T0 + 10)
    seen, _ = await follow(
        harness.session(), "sync_messages", {"room_id": harness.room, direction: start, "count": count}
    )
    assert sorted(seen) == sorted(posted) and len(seen) == len(posted)  # every message exactly once


@pytest.mark.parametrize("count", [1, 2, 4])
@pytest.mark.parametrize("direction", ["next", "previous"])
async def test_deleted_cursors_are_lossless_through_bursts_and_the_sort_quirk(
    harness: Harness, count: int, direction: str
) -> None:
    ws = harness.workspace
    posted = harness.post_many(12)
    for i, msg in enumerate(posted):
        if i % 3 == 0:
            ws.edit(msg, "edited late", at=T0 + 500 - i)  # _updatedAt order differs from deletion order
    for i, msg in enumerate(posted):
        ws.delete(msg, at=T0 + 1000 + (i // 4))  # bursts of four deletions per millisecond
    start = "0" if direction == "next" else str(T0 + 5000)
    seen, _ = await follow(
        harness.session(), "list_deleted", {"room_id": harness.room, direction: start, "count": count}
    )
    assert sorted(seen) == sorted(posted) and len(seen) == len(posted)


@pytest.mark.parametrize("direction", ["next", "previous"])
async def test_a_trash_larger_than_one_read_is_lossless_despite_the_sort_quirk(
    harness: Harness, direction: str
) -> None:
    """More deletions than the first trash read (DELETED_FIRST_PAGE), so the server says there is
    more, and edits that make its _updatedAt order disagree with the _deletedAt order its cursor
    bounds. Paging on where the server stopped would skip or repeat deletions; only a whole read is safe."""
    ws = harness.workspace
    posted = harness.post_many(DELETED_FIRST_PAGE + 200)
    for i, msg in enumerate(posted):
        if i % 3 == 0:
            ws.edit(msg, "edited late", at=T0 + 5000 - i)  # later edits on earlier posts: orders disagree
    for i, msg in enumerate(posted):
        ws.delete(msg, at=T0 + 10_000 + i // 4)  # bursts of four deletions per millisecond
    start = "0" if direction == "next" else str(T0 + 20_000)
    seen, _ = await follow(harness.session(), "list_deleted", {"room_id": harness.room, direction: start, "count": 100})
    missing = set(posted) - set(seen)
    repeated = {msg for msg, n in Counter(seen).items() if n > 1}
    assert (len(missing), len(repeated)) == (0, 0) and len(seen) == len(posted)  # each shown exactly once
    # The trash did not fit the first read: the server said there was more, and the read grew.
    counts = [int(q["count"]) for q in harness.sync_requests()]
    assert counts[:2] == [DELETED_FIRST_PAGE, DELETED_FIRST_PAGE * GROWTH]


async def test_list_deleted_paging_costs_about_one_request_per_page(harness: Harness) -> None:
    posted = harness.post_many(2000)
    for i, msg in enumerate(posted):
        harness.workspace.delete(msg, at=T0 + 10_000 + i)
    seen, calls = await follow(harness.session(), "list_deleted", {"room_id": harness.room, "next": "0", "count": 100})
    assert sorted(seen) == sorted(posted) and calls == 20
    requests = harness.sync_requests()
    # The trash is read whole once (its pages sort by one field and are bounded by another): two
    # requests as the count grows; the pages after the first come from what that read kept, and
    # the last one asks once more for anything newer. Well under ⌈2000/100⌉ + 2.
    assert len(requests) == 3
    assert harness.rows_fetched < 2 * len(posted)


async def test_a_millisecond_larger_than_count_is_returned_whole(harness: Harness) -> None:
    posted = [harness.workspace.post(harness.room, "admin", f"m{i}", at=T0 + 7) for i in range(30)]
    result = await call(harness.session(), "sync_messages", {"room_id": harness.room, "next": "0", "count": 5})
    assert ids(result) == posted and result.next_cursor is None


async def test_plain_server_cursors_would_lose_messages(harness: Harness) -> None:
    """The bug the lossless paging exists for, shown against the same emulator."""
    for i in range(3):
        harness.workspace.post(harness.room, "admin", f"m{i}", at=T0 + 5)
    client = harness.session().client
    page = await client.sync_messages(SyncQuery(harness.room, sync_type=SyncType.UPDATED, after=0, count=2))
    assert page.cursor_next is not None
    rest = await client.sync_messages(
        SyncQuery(harness.room, sync_type=SyncType.UPDATED, after=int(page.cursor_next), count=2)
    )
    assert len(page.updated) + len(rest.updated) == 2  # one of three lost


async def test_result_size_is_bounded_with_a_continuation(harness: Harness) -> None:
    big = "word " * 300
    posted = [harness.workspace.post(harness.room, "admin", big, at=T0 + i + 1) for i in range(60)]
    session = harness.session()
    result = await call(session, "sync_messages", {"room_id": harness.room, "next": "0", "count": 60})
    assert 1 <= len(result.messages) < 60
    assert sum(len(m.text) for m in result.messages) <= DEFAULT_CHARS
    seen, _ = await follow(session, "sync_messages", {"room_id": harness.room, "next": "0", "count": 60})
    assert seen == posted


async def test_requests_never_carry_offset_sort_or_bare_cursors(harness: Harness) -> None:
    harness.post_many(5)
    session = harness.session()
    since = "2026-11-20T09:00:00"
    await call(
        session, "sync_messages", {"room_id": harness.room, "last_update": since, "offset": 2, "sort": {"ts": -1}}
    )
    await call(session, "sync_messages", {"room_id": harness.room, "next": "2026-11-20T09:00:00Z", "offset": 1})
    await call(
        session, "list_deleted", {"room_id": harness.room, "previous": str(T0 + 100), "count": 3, "sort": {"_id": 1}}
    )
    requests = harness.sync_requests()
    assert len(requests) == 3
    for query in requests:
        assert "offset" not in query and "sort" not in query
        for key in ("next", "previous"):
            if key in query:
                assert query[key].isdigit() and query["type"] in ("UPDATED", "DELETED")
    assert requests[0]["next"] == requests[1]["next"] == str(T0)  # naive time is UTC; ISO cursor converted
