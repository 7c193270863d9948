"""What the tools do, without MCP: validate, call the endpoint, remember, cut the answer for an agent.

Usable from plain Python::

    async with RocketChatClient(settings) as client:
        result = await Reader(client).sync_messages(room_id="GENERAL", last_update="2026-11-20T09:00:00Z")

Cursor pages are lossless: the server bounds pages with a strict ``$gt``/``$lt`` on millisecond
timestamps and no tie-breaker, so a page never ends in the middle of a millisecond here — the
trailing group is held back for the next page (or, when one millisecond holds more items than
``count``, the page grows to take the whole group). Requests are paced by the server's
``X-RateLimit-*`` headers: when the window is used up, the reader waits for its reset if that is
short, and otherwise returns what it has with an exact continuation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import anyio

from rc_mcp.changes import classify
from rc_mcp.client import SYNC_MESSAGES_PATH, RocketChatClient, SyncResponse, SyncType
from rc_mcp.config import DEFAULT_MAX_WAIT_SECONDS
from rc_mcp.errors import (
    AuthenticationFailed,
    RateLimited,
    RocketChatError,
    RoomArchived,
    RoomNotFound,
    ServerUnreachable,
)
from rc_mcp.models import (
    LINE_OVERHEAD_CHARS,
    RESULT_CHAR_BUDGET,
    SHOWN_TEXT_LIMIT,
    Deletion,
    Message,
    Stream,
    SyncResult,
    from_ms,
    to_ms,
)
from rc_mcp.rules import ArgumentError, SyncPlan, max_chars_rule, plan
from rc_mcp.store import Checkpoint, CheckpointConflict, MessageStore

Item = Message | Deletion
Progress = Callable[[float, float | None, str | None], Awaitable[None]]

# Fetch a little more than asked so that holding back a trailing millisecond rarely shortens a page.
_FETCH_SLACK = 10
_DELETED_FIRST_FETCH = 100
# catch_up reads in pages this large: the server has no cap on count in cursor mode, and every
# request costs one of a normal user's 10 calls a minute.
CATCH_UP_PAGE = 1000
DEFAULT_CATCH_UP_ITEMS = 200
MAX_CATCH_UP_ITEMS = 1000
FIRST_LOOK = timedelta(hours=24)
DEFAULT_CHECKPOINT = "default"


def stamp_ms(item: Item) -> int:
    """The timestamp a cursor counts for this item."""
    return to_ms(item.updated_at if isinstance(item, Message) else item.deleted_at)


class Reader:
    """Reads rooms through one client; remembers what it showed in ``store`` (optional)."""

    def __init__(
        self,
        client: RocketChatClient,
        store: MessageStore | None = None,
        *,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.max_wait = max_wait
        self.progress = progress
        self.requests = 0  # chat.syncMessages calls made, for benchmarks
        self._rooms: dict[str, tuple[str, str | None]] = {}
        self._checkpoint_locks: dict[tuple[str, str], anyio.Lock] = {}

    def with_progress(self, progress: Progress | None) -> Reader:
        """The same reader (same caches and locks) reporting waits to ``progress``."""
        twin = Reader.__new__(Reader)
        twin.__dict__.update(self.__dict__)
        twin.progress = progress
        return twin

    # --- the two stream tools -------------------------------------------------------------------

    async def sync_messages(self, **arguments: Any) -> SyncResult:
        """Messages created or changed in a room (the endpoint's UPDATED side)."""
        return await self.run(plan("updated", **arguments))

    async def list_deleted(self, **arguments: Any) -> SyncResult:
        """Messages deleted from a room (the endpoint's DELETED side)."""
        return await self.run(plan("deleted", **arguments))

    async def run(self, request: SyncPlan) -> SyncResult:
        room_id, room_name = await self.resolve_room(request.room_id)
        request = replace(request, room_id=room_id)
        if request.mode == "last_update":
            result = await self._last_update_mode(request)
        else:
            result = await self._cursor_mode(request)
        shown = await self._remember(result.messages, result.deleted)
        return result.model_copy(update={"room_name": room_name, **shown})

    async def _last_update_mode(self, request: SyncPlan) -> SyncResult:
        assert request.last_update is not None
        response = await self._call(room_id=request.room_id, last_update=request.last_update)
        items = _parse(request.stream, response)
        other = len(response.deleted) if request.stream == "updated" else len(response.updated)
        ordered = _sorted(items, request.sort)
        shown = ordered[request.offset :][: _fit(ordered[request.offset :], request.count, request.max_chars)]
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

    async def _cursor_mode(self, request: SyncPlan) -> SyncResult:
        forward = request.mode == "next"
        assert request.cursor is not None
        want = request.offset + request.count
        rows, complete, limited = await self._gather(
            request.room_id, request.stream, forward, request.cursor, want, want + _FETCH_SLACK
        )
        window = rows[request.offset :]
        shown_count = _fit(window, request.count, request.max_chars)
        if shown_count < len(window):
            shown_count = _millisecond_boundary(window, shown_count)
        shown = window[:shown_count]
        more = shown_count < len(window) or not complete
        edge = shown[-1] if shown else (rows[-1] if rows else None)
        far = str(stamp_ms(edge)) if edge is not None else str(request.cursor)
        far_cursor = far if more else None
        near = str(stamp_ms(shown[0])) if shown else None
        next_cursor, previous_cursor = (far_cursor, near) if forward else (near, far_cursor)
        continuation = None
        if more:
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
            retry_after_seconds=limited.wait_seconds if limited else None,
        )

    # --- catch_up: both streams since the last look, with a durable checkpoint ------------------

    async def catch_up(
        self,
        *,
        room_id: str | None,
        checkpoint: str | None = None,
        since: str | None = None,
        max_items: int | None = None,
        max_chars: int | None = None,
    ) -> SyncResult:
        """Everything that changed in a room since this checkpoint's last look: both streams."""
        name = (checkpoint or DEFAULT_CHECKPOINT).strip()
        budget = _catch_up_budget(max_items)
        chars = max_chars_rule(max_chars)
        if not name or len(name) > 64:
            raise ArgumentError("checkpoint must be a name of 1-64 characters, e.g. 'default' or 'daily-digest'.")
        if self.store is None:
            raise ArgumentError(
                "catch_up needs the local store, which is off (ROCKETCHAT_MCP_STORE=off): use sync_messages and "
                "list_deleted with last_update or next instead, or turn the store on."
            )
        start = _since(since)
        shown_room = (room_id or "").strip()
        if not shown_room:
            raise ArgumentError("room_id is required: send the room's id or #name (e.g. '#general').")
        resolved, room_name = await self.resolve_room(shown_room)
        lock = self._checkpoint_locks.setdefault((resolved, name), anyio.Lock())
        async with lock:
            return await self._catch_up_locked(resolved, room_name, name, start, budget, chars)

    async def _catch_up_locked(
        self, room_id: str, room_name: str | None, name: str, start: datetime | None, budget: int, max_chars: int
    ) -> SyncResult:
        store = self.store
        assert store is not None
        previous = await anyio.to_thread.run_sync(store.checkpoint, room_id, name)
        if previous is not None and start is not None:
            raise ArgumentError(
                f"checkpoint {name!r} already exists for this room: leave out since to continue from it, "
                "or pick a new checkpoint name to start over from another time."
            )
        # A first look starts from a local-clock bound; every later position is a server timestamp.
        first = to_ms(start or datetime.now(UTC) - FIRST_LOOK)
        pending_u, pending_d = await anyio.to_thread.run_sync(store.pending, room_id, name)
        updated_after = previous.updated_after if previous else first
        updated = await self._read_on(room_id, "updated", updated_after, list(pending_u), budget, max_chars)
        # The trash is read once the updated stream is read and shown to its end, so a long look
        # reads it once, at the end, and a rate limit on the updates never advances it.
        deleted_after = previous.deleted_after if previous else first
        if updated.finished and updated.limited is None:
            deleted = await self._read_on(room_id, "deleted", deleted_after, list(pending_d), budget, max_chars)
        else:
            deleted = _StreamRead(list(pending_d), [], deleted_after, False, None).cut(budget, max_chars)
        limited = updated.limited or deleted.limited
        caught_up = updated.finished and deleted.finished
        seen = [stamp_ms(i) for i in updated.shown + deleted.shown]
        caught_up_at = previous.caught_up_at if previous else None
        if caught_up and (seen or caught_up_at is not None):
            # Server timestamps only: the local clock never moves a watermark.
            caught_up_at = max([*seen, caught_up_at or 0])
        messages = [m for m in updated.shown if isinstance(m, Message)]
        deletions = [d for d in deleted.shown if isinstance(d, Deletion)]
        annotated = await self._annotate(messages, deletions)
        try:
            await anyio.to_thread.run_sync(
                lambda: store.save_checkpoint(
                    previous,
                    room_id=room_id,
                    name=name,
                    updated_after=updated.position,
                    deleted_after=deleted.position,
                    caught_up_at=caught_up_at,
                    messages=messages,
                    deletions=deletions,
                    pending_messages=[m for m in updated.rest if isinstance(m, Message)],
                    pending_deletions=[d for d in deleted.rest if isinstance(d, Deletion)],
                )
            )
        except CheckpointConflict:
            raise RocketChatError(
                f"Another rc-mcp process advanced checkpoint {name!r} while this call was reading; nothing was "
                "lost. Call catch_up again to continue from where it got to."
            ) from None
        continuation: dict[str, Any] | None = None
        if not caught_up:
            continuation = {"room_id": room_id, "checkpoint": name}
            if budget != DEFAULT_CATCH_UP_ITEMS:
                continuation["max_items"] = budget
            if max_chars != RESULT_CHAR_BUDGET:
                continuation["max_chars"] = max_chars
        return SyncResult(
            tool="catch_up",
            room_id=room_id,
            room_name=room_name,
            mode="checkpoint",
            since=_checkpoint_since(previous, first),
            messages=annotated["messages"],
            deleted=annotated["deleted"],
            continuation=continuation,
            watermark=str(caught_up_at) if caught_up_at is not None else None,
            checkpoint=name,
            caught_up=caught_up,
            retry_after_seconds=limited.wait_seconds if limited else None,
        )

    async def _read_on(
        self, room_id: str, stream: Stream, position: int, waiting: list[Item], budget: int, max_chars: int
    ) -> _StreamRead:
        """One stream of a catch-up: what waited from the last call, then more from the server while
        everything fits in this answer."""
        read = _StreamRead(waiting, [], position, False, None)
        if len(waiting) >= budget or _fit(waiting, budget, max_chars) < len(waiting):
            return read.cut(budget, max_chars)
        try:
            fetched, complete, limited = await self._gather(
                room_id, stream, True, position, budget - len(waiting), CATCH_UP_PAGE
            )
        except RateLimited as exc:
            fetched, complete, limited = [], False, exc
        position = stamp_ms(fetched[-1]) if fetched else position
        return _StreamRead(waiting + fetched, [], position, complete, limited).cut(budget, max_chars)

    # --- rooms ----------------------------------------------------------------------------------

    async def resolve_room(self, given: str) -> tuple[str, str | None]:
        """A room id and name from an id, ``#name`` or bare name; looked up once, then cached."""
        if given in self._rooms:
            return self._rooms[given]
        if given.startswith("#"):
            room = await self.client.room_info(room_name=given[1:])
            resolved = (str(room["_id"]), _name(room))
        else:
            stored = await anyio.to_thread.run_sync(self.store.room_name, given) if self.store else None
            if stored is not None:
                resolved = (given, stored)
            else:
                resolved = await self._lookup_bare(given)
        self._rooms[given] = resolved
        if self.store is not None:
            await anyio.to_thread.run_sync(self.store.remember_room, *resolved)
        return resolved

    async def _lookup_bare(self, given: str) -> tuple[str, str | None]:
        """An id or a bare name. As an id, the name is only a nicety: when that lookup fails for any
        reason but bad credentials, go on with ``given`` and let chat.syncMessages say what applies."""
        try:
            room = await self.client.room_info(room_id=given)
            return str(room["_id"]), _name(room)
        except RoomNotFound:
            pass
        except (AuthenticationFailed, ServerUnreachable):
            raise
        except RocketChatError:
            return given, None
        try:
            room = await self.client.room_info(room_name=given)
        except RoomNotFound:
            return given, None  # neither an id nor a name it knows: the endpoint's answer says so
        except (AuthenticationFailed, ServerUnreachable, RoomArchived):
            raise
        except RocketChatError:
            return given, None
        return str(room["_id"]), _name(room)

    # --- requests, pacing and paging ------------------------------------------------------------

    async def _call(self, **kwargs: Any) -> SyncResponse:
        """One chat.syncMessages request, paced by the server's rate-limit headers."""
        while True:
            await self._respect_window()
            try:
                response = await self.client.sync_messages(**kwargs)
            except RateLimited as exc:
                self.requests += 1
                if exc.wait_seconds is None or exc.wait_seconds > self.max_wait:
                    raise
                await self._wait(exc.wait_seconds + 0.2, "Rocket.Chat rate limit reached")
                continue
            self.requests += 1
            return response

    async def _respect_window(self) -> None:
        window = self.client.rate_limits.get(SYNC_MESSAGES_PATH)
        if window is None or window.remaining > 0:
            return
        seconds = (window.reset_at_ms - time.time() * 1000) / 1000
        if 0 < seconds <= self.max_wait:
            await self._wait(seconds + 0.2, "pacing: waiting for the rate-limit window to reset")

    async def _wait(self, seconds: float, why: str) -> None:
        waited = 0.0
        while waited < seconds:
            if self.progress is not None:
                await self.progress(waited, seconds, f"{why}: {seconds - waited:.0f} s left")
            step = min(1.0, seconds - waited)
            await anyio.sleep(step)
            waited += step
        if self.progress is not None:
            await self.progress(seconds, seconds, f"{why}: resuming")

    async def _gather(
        self, room_id: str, stream: Stream, forward: bool, cursor: int, want: int, page: int
    ) -> tuple[list[Item], bool, RateLimited | None]:
        """Rows past ``cursor`` in paging order, whole milliseconds only, until ``want`` or the end.

        A rate limit after some rows were read ends the gathering early (third value) instead of failing.
        """
        rows: list[Item] = []
        position = cursor
        while True:
            try:
                fetched, complete = await self._whole_milliseconds(room_id, stream, forward, position, page)
            except RateLimited as exc:
                if not rows:
                    raise
                return rows, False, exc
            rows.extend(fetched)
            if complete or len(rows) >= want:
                return rows, complete, None
            position = stamp_ms(rows[-1])

    async def _whole_milliseconds(
        self, room_id: str, stream: Stream, forward: bool, cursor: int, size: int
    ) -> tuple[list[Item], bool]:
        """One page that ends on a whole millisecond, and whether nothing lies beyond it."""
        if stream == "deleted":
            # The server sorts trash pages by _updatedAt but bounds them by _deletedAt, so only a
            # complete answer is safe to page through; deletions are few, so read them whole.
            size = max(size, _DELETED_FIRST_FETCH)
        while True:
            response = await self._call(
                room_id=room_id,
                type=SyncType.UPDATED if stream == "updated" else SyncType.DELETED,
                next=cursor if forward else None,
                previous=None if forward else cursor,
                count=size,
            )
            rows = _parse(stream, response)
            server_has_more = (response.cursor_next if forward else response.cursor_previous) is not None
            if not server_has_more:
                if stream == "deleted":
                    rows.sort(key=stamp_ms, reverse=not forward)
                return rows, True
            if stream == "updated":
                held_back = _without_last_millisecond(rows)
                if held_back:
                    return held_back, False
            size *= 4

    # --- local history --------------------------------------------------------------------------

    async def _annotate(self, messages: list[Message], deletions: list[Deletion]) -> dict[str, Any]:
        """Messages with their kind of change and deletions with what was known of them."""
        if self.store is None:
            return {"messages": messages, "deleted": deletions}
        store = self.store
        ids = [m.id for m in messages] + [d.id for d in deletions]
        known = await anyio.to_thread.run_sync(store.known, ids)
        return {
            "messages": [m.model_copy(update={"change": classify(known.get(m.id), m)}) for m in messages],
            "deleted": [
                d.model_copy(update={"seen_before": d.id in known, "recalled": known.get(d.id)}) for d in deletions
            ],
        }

    async def _remember(self, messages: list[Message], deletions: list[Deletion]) -> dict[str, Any]:
        annotated = await self._annotate(messages, deletions)
        if self.store is not None and (messages or deletions):
            store = self.store
            await anyio.to_thread.run_sync(lambda: store.record(messages, deletions))
        return annotated


@dataclass(frozen=True)
class _StreamRead:
    """One stream's part of a catch-up call: what to show, what waits for the next call, where
    the server was read to, and whether it was read to its end."""

    shown: list[Item]
    rest: list[Item]
    position: int
    complete: bool
    limited: RateLimited | None

    @property
    def finished(self) -> bool:
        return self.complete and not self.rest

    def cut(self, budget: int, max_chars: int) -> _StreamRead:
        items = self.shown + self.rest
        count = _fit(items, budget, max_chars)
        return replace(self, shown=items[:count], rest=items[count:])


async def sync_messages(client: RocketChatClient, **arguments: Any) -> SyncResult:
    """``Reader(client).sync_messages(...)`` for one-off use."""
    return await Reader(client).sync_messages(**arguments)


async def list_deleted(client: RocketChatClient, **arguments: Any) -> SyncResult:
    """``Reader(client).list_deleted(...)`` for one-off use."""
    return await Reader(client).list_deleted(**arguments)


def _catch_up_budget(max_items: int | None) -> int:
    if max_items is None:
        return DEFAULT_CATCH_UP_ITEMS
    if isinstance(max_items, bool) or not isinstance(max_items, int) or not 1 <= max_items <= MAX_CATCH_UP_ITEMS:
        raise ArgumentError(
            f"max_items={max_items!r} is out of range: send a whole number from 1 to {MAX_CATCH_UP_ITEMS} "
            f"(default {DEFAULT_CATCH_UP_ITEMS})."
        )
    return max_items


def _since(since: str | None) -> datetime | None:
    if since is None or not since.strip():
        return None
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        raise ArgumentError(
            f"since={since!r} is not a valid ISO-8601 date-time: send e.g. '2026-11-20T09:00:00Z', or leave it "
            "out to start with the last 24 hours."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _checkpoint_since(previous: Checkpoint | None, first: int) -> datetime:
    if previous is None:
        return from_ms(first)
    if previous.caught_up_at is not None:
        return from_ms(previous.caught_up_at)
    return from_ms(min(previous.updated_after, previous.deleted_after))


def _name(room: dict[str, Any]) -> str | None:
    name = room.get("name") or room.get("fname")
    return name if isinstance(name, str) and name else None


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


def _fit(items: Sequence[Item], count: int, max_chars: int) -> int:
    """How many leading items to show: at most ``count``, within ``max_chars`` of text, at least 1."""
    used = 0
    for index, item in enumerate(items[:count]):
        size = LINE_OVERHEAD_CHARS
        if isinstance(item, Message):
            size += min(len(item.text), SHOWN_TEXT_LIMIT) + sum(len(a.text or "") for a in item.attachments)
        used += size
        if used > max_chars and index > 0:
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
    retry_after_seconds: int | None = None,
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
        retry_after_seconds=retry_after_seconds,
    )
