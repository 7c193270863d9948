"""What the two tools do, without MCP: validate, call the endpoint, cut the answer for an agent.

Usable from plain Python::

    async with RocketChatClient(settings) as client:
        result = await sync_messages(client, room_id="GENERAL", last_update="2026-11-20T09:00:00Z")

Cursor pages are lossless: the server bounds pages with a strict ``$gt``/``$lt`` on millisecond
timestamps and no tie-breaker, so a page never ends in the middle of a millisecond here — the
trailing group is held back for the next page (or, when one millisecond holds more items than
``count``, the page grows to take the whole group).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from rc_mcp.client import RocketChatClient, SyncResponse, SyncType
from rc_mcp.models import (
    LINE_OVERHEAD_CHARS,
    RESULT_CHAR_BUDGET,
    SHOWN_TEXT_LIMIT,
    Deletion,
    Message,
    Stream,
    SyncResult,
    to_ms,
)
from rc_mcp.rules import SyncPlan, plan

Item = Message | Deletion

# Fetch a little more than asked so that holding back a trailing millisecond rarely shortens a page.
_FETCH_SLACK = 10
_DELETED_FIRST_FETCH = 100


async def sync_messages(client: RocketChatClient, **arguments: Any) -> SyncResult:
    """Messages created or changed in a room (the endpoint's UPDATED side)."""
    return await run(client, plan("updated", **arguments))


async def list_deleted(client: RocketChatClient, **arguments: Any) -> SyncResult:
    """Messages deleted from a room (the endpoint's DELETED side)."""
    return await run(client, plan("deleted", **arguments))


async def run(client: RocketChatClient, request: SyncPlan) -> SyncResult:
    if request.mode == "last_update":
        return await _last_update_mode(client, request)
    return await _cursor_mode(client, request)


def stamp_ms(item: Item) -> int:
    """The timestamp a cursor counts for this item."""
    return to_ms(item.updated_at if isinstance(item, Message) else item.deleted_at)


async def _last_update_mode(client: RocketChatClient, request: SyncPlan) -> SyncResult:
    response = await client.sync_messages(room_id=request.room_id, last_update=request.last_update)
    items = _parse(request.stream, response)
    other = len(response.deleted) if request.stream == "updated" else len(response.updated)
    ordered = _sorted(items, request.sort)
    shown = ordered[request.offset :][: _fit(ordered[request.offset :], request.count)]
    end = request.offset + len(shown)
    continuation = None
    if end < len(ordered):
        continuation = {**request.arguments(), "offset": end, "count": request.count}
    return _result(
        request,
        shown,
        total=len(items),
        other_stream_count=other,
        continuation=continuation,
        watermark=str(max(map(stamp_ms, items))) if items else None,
    )


async def _cursor_mode(client: RocketChatClient, request: SyncPlan) -> SyncResult:
    forward = request.mode == "next"
    rows, complete = await _fetch_whole_milliseconds(client, request, request.offset + request.count)
    window = rows[request.offset :]
    shown_count = _fit(window, request.count)
    if shown_count < len(window):
        shown_count = _millisecond_boundary(window, shown_count)
    shown = window[:shown_count]
    more = shown_count < len(window) or not complete
    edge = shown[-1] if shown else (rows[-1] if rows else None)
    far = str(stamp_ms(edge)) if more and edge is not None else None
    near = str(stamp_ms(shown[0])) if shown else None
    next_cursor, previous_cursor = (far, near) if forward else (near, far)
    continuation = None
    if far is not None:
        continuation = {**request.arguments(), request.mode: far, "count": request.count}
    if shown:
        watermark: str | None = str(max(map(stamp_ms, shown)))
    else:
        watermark = str(request.cursor) if forward else None
    display = _sorted(shown, request.sort) if request.sort_given else shown
    return _result(
        request,
        display,
        continuation=continuation,
        watermark=watermark,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
    )


async def _fetch_whole_milliseconds(client: RocketChatClient, request: SyncPlan, want: int) -> tuple[list[Item], bool]:
    """Rows in paging order that end on a whole millisecond, and whether nothing lies beyond them."""
    forward = request.mode == "next"
    size = want + _FETCH_SLACK
    if request.stream == "deleted":
        # The server sorts trash pages by _updatedAt but bounds them by _deletedAt, so only a
        # complete answer is safe to page through; deletions are few, so read them whole.
        size = max(size, _DELETED_FIRST_FETCH)
    while True:
        response = await client.sync_messages(
            room_id=request.room_id,
            type=SyncType.UPDATED if request.stream == "updated" else SyncType.DELETED,
            next=request.cursor if forward else None,
            previous=None if forward else request.cursor,
            count=size,
        )
        rows = _parse(request.stream, response)
        server_has_more = (response.cursor_next if forward else response.cursor_previous) is not None
        if not server_has_more:
            if request.stream == "deleted":
                rows.sort(key=stamp_ms, reverse=not forward)
            return rows, True
        if request.stream == "updated":
            held_back = _without_last_millisecond(rows)
            if held_back:
                return held_back, False
        size *= 4


def _without_last_millisecond(rows: list[Item]) -> list[Item]:
    last = stamp_ms(rows[-1])
    return [row for row in rows if stamp_ms(row) != last]


def _millisecond_boundary(window: Sequence[Item], cut: int) -> int:
    """Move a cut so it does not split a millisecond: back to its start, or forward past its end."""
    boundary = stamp_ms(window[cut])
    start = cut
    while start > 0 and stamp_ms(window[start - 1]) == boundary:
        start -= 1
    if start > 0:
        return start
    end = cut
    while end < len(window) and stamp_ms(window[end]) == boundary:
        end += 1
    return end


def _fit(items: Sequence[Item], count: int) -> int:
    """How many leading items to show: at most ``count``, within the result's text budget, at least 1."""
    used = 0
    for index, item in enumerate(items[:count]):
        size = LINE_OVERHEAD_CHARS
        if isinstance(item, Message):
            size += min(len(item.text), SHOWN_TEXT_LIMIT) + sum(len(a.text or "") for a in item.attachments)
        used += size
        if used > RESULT_CHAR_BUDGET and index > 0:
            return index
    return min(len(items), count)


def _parse(stream: Stream, response: SyncResponse) -> list[Item]:
    if stream == "updated":
        return [Message.from_wire(doc) for doc in response.updated]
    return [Deletion.from_wire(doc) for doc in response.deleted]


def _sorted(items: Sequence[Item], order: tuple[tuple[str, int], ...]) -> list[Item]:
    ordered = list(items)
    # Stable sorts applied from the last key to the first give a multi-key sort.
    for field, direction in reversed(order):
        ordered.sort(key=attrgetter(field), reverse=direction == -1)
    return ordered


def _result(
    request: SyncPlan,
    items: Sequence[Item],
    *,
    total: int | None = None,
    other_stream_count: int | None = None,
    continuation: dict[str, Any] | None = None,
    watermark: str | None = None,
    next_cursor: str | None = None,
    previous_cursor: str | None = None,
) -> SyncResult:
    return SyncResult(
        tool="sync_messages" if request.stream == "updated" else "list_deleted",
        room_id=request.room_id,
        mode=request.mode,
        since=request.last_update,
        cursor=str(request.cursor) if request.cursor is not None else None,
        messages=[i for i in items if isinstance(i, Message)],
        deleted=[i for i in items if isinstance(i, Deletion)],
        total=total,
        offset=request.offset,
        other_stream_count=other_stream_count,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
        continuation=continuation,
        watermark=watermark,
    )
