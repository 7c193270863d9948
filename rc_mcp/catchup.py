"""``catch_up`` without MCP: both streams of a room since a named checkpoint's last look.

A checkpoint keeps, per stream, the server timestamp of the last item read, and the items fetched
but not shown yet (pending), all saved in one transaction with the page shown. The trash is read
once the updated stream is read and shown to its end, so a long look reads it once, at the end,
and a rate limit on the updates never advances it. The checkpoint is "caught up" only when both
streams were read to the end, and its watermark is a server timestamp, never the local clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import anyio

from rc_mcp.errors import ResponseTooLarge
from rc_mcp.history import History
from rc_mcp.models import Deletion, Item, Message, Room, Stream, stamp_ms
from rc_mcp.paging import Pager, Stop
from rc_mcp.results import FRAME_CHARS, Budget, CatchUp
from rc_mcp.rules import DEFAULT_CATCH_UP_ITEMS, DEFAULT_CHARS, ArgumentError
from rc_mcp.store import Checkpoint, CheckpointConflict, HistoryStore, StoreError
from rc_mcp.times import from_ms, to_ms

# The server has no cap on count in cursor mode, and every request costs one of a normal user's
# 10 calls a minute, so catch_up reads in large pages and keeps what it cannot show yet.
PAGE = 1000
FIRST_LOOK = timedelta(hours=24)


class CheckpointError(Exception):
    """The checkpoint could not be read or advanced; nothing was shown as read and nothing was lost."""

    def __init__(self, why: str) -> None:
        super().__init__(f"catch_up could not go on: {why}. Nothing was lost; call catch_up again to continue.")


@dataclass(frozen=True)
class Way:
    """How a look is taken. ``start``: the since an agent named (refused for an existing checkpoint);
    ``first_ms``: where a new checkpoint starts otherwise (default: 24 hours ago); ``one_request``:
    read both streams with one lastUpdate request when nothing waits from the last call (for rooms
    known to have changed a little); ``shared_budget``: the budget covers both streams together;
    ``whole_answer``: the look is a whole answer, not one room's section of a workspace answer, so
    its budget sets aside the answer's header and footer, and its notes include the call's own
    (items the server sent that were left out, counted for the whole call, which a workspace says
    once, not in every room)."""

    start: datetime | None = None
    first_ms: int | None = None
    one_request: bool = False
    shared_budget: bool = False
    whole_answer: bool = True


@dataclass(frozen=True)
class _StreamRead:
    """One stream's part of a catch-up call: what to show, what waits for the next call, where
    the server was read to, and whether it was read to its end."""

    shown: list[Item]
    rest: list[Item]
    position: int
    complete: bool
    stopped: Stop | None

    @property
    def finished(self) -> bool:
        return self.complete and not self.rest

    def cut(self, budget: Budget) -> _StreamRead:
        items = self.shown + self.rest
        count = budget.fit(items)
        return replace(self, shown=items[:count], rest=items[count:])

    def refit(self, annotated: Sequence[Item], budget: Budget) -> _StreamRead:
        """The read showing ``annotated`` (its shown items, annotated) cut again; what no longer fits
        goes back, as read, to wait with the rest."""
        count = budget.fit(annotated)
        return replace(self, shown=list(annotated[:count]), rest=[*self.shown[count:], *self.rest])


@dataclass(frozen=True)
class _Look:
    previous: Checkpoint | None
    first: int
    updated: _StreamRead
    deleted: _StreamRead

    @property
    def caught_up(self) -> bool:
        return self.updated.finished and self.deleted.finished

    @property
    def stopped(self) -> Stop | None:
        return self.updated.stopped or self.deleted.stopped


@dataclass(frozen=True)
class Staged:
    """A room's catch-up, read: ``result`` may be shown once ``CatchUpReader.commit`` has saved it."""

    result: CatchUp
    room: Room
    name: str
    look: _Look


class CatchUpReader:
    """Catch-ups of one account's rooms; calls on one checkpoint are serialised in this process."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    def store(self) -> HistoryStore:
        return self.history.require("catch_up", "use sync_messages and list_deleted with last_update or next instead")

    async def catch_up(self, pager: Pager, room: Room, name: str, budget: Budget, way: Way | None = None) -> CatchUp:
        """One room's catch-up, its checkpoint moved past what it shows."""
        async with self._locks.setdefault((room.id, name), anyio.Lock()):
            staged = await self.stage(pager, room, name, budget, way or Way())
            # A cancel (the tool's deadline, or the host's) that came while reading ends the call here,
            # unsaved; one landing after the save would drop a page marked read, so the save finishes
            # whatever happens, and nothing is awaited after it.
            await anyio.lowlevel.checkpoint()
            with anyio.CancelScope(shield=True):
                await self.commit(staged)
            return staged.result

    async def stage(self, pager: Pager, room: Room, name: str, budget: Budget, way: Way) -> Staged:
        """A room's catch-up read and annotated but not saved: a cancel before ``commit`` loses nothing.
        The caller serialises calls on the checkpoint (``catch_up``, or a workspace checkpoint's lock)."""
        store = self.store()
        items = budget.reserve(FRAME_CHARS) if way.whole_answer else budget
        look = await self._read(pager, store, room, name, items, way)
        notes = pager.notes() if way.whole_answer else []
        look = await self._annotated(look, items, way, notes)
        return Staged(_result(room, name, look, budget, notes), room, name, look)

    async def commit(self, staged: Staged) -> None:
        """Move the checkpoint past what ``staged.result`` shows, with what waits for the next call."""
        await self._save(self.store(), staged.room, staged.name, staged.look)

    async def _read(self, pager: Pager, store: HistoryStore, room: Room, name: str, budget: Budget, way: Way) -> _Look:
        try:
            previous = await anyio.to_thread.run_sync(store.checkpoint, room.id, name)
            pending_u, pending_d = await anyio.to_thread.run_sync(store.pending, room.id, name)
        except StoreError as exc:
            raise CheckpointError(f"the checkpoint could not be read from the local history ({exc})") from None
        if previous is not None and way.start is not None:
            raise ArgumentError(
                f"checkpoint {name!r} already exists for this room: leave out since to continue from it, "
                "or pick a new checkpoint name to start over from another time"
            )
        # A first look starts from a local-clock bound; every later position is a server timestamp.
        first = to_ms(way.start) if way.start else way.first_ms
        if first is None:
            first = pager.clock.now_ms() - FIRST_LOOK // timedelta(milliseconds=1)
        updated_after = previous.updated_after if previous else first
        deleted_after = previous.deleted_after if previous else first
        if way.one_request and not pending_u and not pending_d:
            reads = await _read_both(pager, room.id, updated_after, deleted_after, budget, way)
            if reads is not None:
                return _Look(previous, first, *reads)
        updated = await _read_on(pager, room.id, "updated", updated_after, list(pending_u), budget)
        rest = _left(budget, updated.shown, way)
        if updated.finished and updated.stopped is None:
            deleted = await _read_on(pager, room.id, "deleted", deleted_after, list(pending_d), rest)
        else:
            deleted = _StreamRead(list(pending_d), [], deleted_after, False, None).cut(rest)
        return _Look(previous, first, updated, deleted)

    async def _annotated(self, look: _Look, budget: Budget, way: Way, notes: list[str]) -> _Look:
        """The look with what it shows annotated by the local history (change kinds, edit diffs,
        recalled texts), and cut again: those make lines longer than the first cut counted them."""
        messages, deletions = await self.history.annotate(_messages(look.updated), _deletions(look.deleted), notes)
        updated = look.updated.refit(messages, budget)
        deleted = look.deleted.refit(deletions, _left(budget, updated.shown, way))
        return replace(look, updated=updated, deleted=deleted)

    async def _save(self, store: HistoryStore, room: Room, name: str, look: _Look) -> None:
        messages, deletions = _messages(look.updated), _deletions(look.deleted)
        try:
            await anyio.to_thread.run_sync(
                lambda: store.save_checkpoint(
                    look.previous,
                    room_id=room.id,
                    name=name,
                    updated_after=look.updated.position,
                    deleted_after=look.deleted.position,
                    caught_up_at=_caught_up_at(look),
                    messages=messages,
                    deletions=deletions,
                    pending_messages=[m for m in look.updated.rest if isinstance(m, Message)],
                    pending_deletions=[d for d in look.deleted.rest if isinstance(d, Deletion)],
                )
            )
        except CheckpointConflict:
            raise CheckpointError(
                f"another rc-mcp process advanced checkpoint {name!r} while this call was reading"
            ) from None
        except StoreError as exc:
            raise CheckpointError(f"the checkpoint could not be saved in the local history ({exc})") from None


async def _read_on(
    pager: Pager, room_id: str, stream: Stream, position: int, waiting: list[Item], budget: Budget
) -> _StreamRead:
    """One stream of a catch-up: what waited from the last call, then more from the server while
    everything fits in this answer."""
    read = _StreamRead(waiting, [], position, False, None)
    if len(waiting) >= budget.max_items or budget.fit(waiting) < len(waiting):
        return read.cut(budget)
    gathered = await pager.gather(room_id, stream, True, position, budget.max_items - len(waiting), PAGE)
    fetched = gathered.rows
    position = stamp_ms(fetched[-1]) if fetched else position
    return _StreamRead(waiting + fetched, [], position, gathered.complete, gathered.stopped).cut(budget)


async def _read_both(
    pager: Pager, room_id: str, updated_after: int, deleted_after: int, budget: Budget, way: Way
) -> tuple[_StreamRead, _StreamRead] | None:
    """Both streams in one request; None when the answer is too large to take at once."""
    try:
        rows_u, rows_d = await pager.both_streams(room_id, updated_after, deleted_after)
    except Stop as stop:
        return _StreamRead([], [], updated_after, False, stop), _StreamRead([], [], deleted_after, False, None)
    except ResponseTooLarge:
        return None
    updated = _StreamRead(rows_u, [], _last(rows_u, updated_after), True, None).cut(budget)
    rest = _left(budget, updated.shown, way)
    return updated, _StreamRead(rows_d, [], _last(rows_d, deleted_after), True, None).cut(rest)


def _left(budget: Budget, shown: Sequence[Item], way: Way) -> Budget:
    """What the deleted stream may show once the updated one shows ``shown``: the characters are one
    answer's, so always shared; the items too across a workspace, and per stream for one room."""
    left = budget.after(shown)
    return left if way.shared_budget else replace(left, max_items=budget.max_items)


def _messages(read: _StreamRead) -> list[Message]:
    return [m for m in read.shown if isinstance(m, Message)]


def _deletions(read: _StreamRead) -> list[Deletion]:
    return [d for d in read.shown if isinstance(d, Deletion)]


def _last(rows: list[Item], position: int) -> int:
    return stamp_ms(rows[-1]) if rows else position


def _caught_up_at(look: _Look) -> int | None:
    """The newest server time seen, once both streams were read to the end; None until then."""
    caught_up_at = look.previous.caught_up_at if look.previous else None
    seen = [stamp_ms(i) for i in look.updated.shown + look.deleted.shown]
    if look.caught_up and (seen or caught_up_at is not None):
        caught_up_at = max([*seen, caught_up_at or 0])
    return caught_up_at


def _result(room: Room, name: str, look: _Look, budget: Budget, notes: list[str]) -> CatchUp:
    continuation: dict[str, Any] | None = None
    if not look.caught_up:
        continuation = {"room_id": room.id, "checkpoint": name}
        if budget.max_items != DEFAULT_CATCH_UP_ITEMS:
            continuation["max_items"] = budget.max_items
        if budget.max_chars != DEFAULT_CHARS:
            continuation["max_chars"] = budget.max_chars
    caught_up_at = _caught_up_at(look)
    stop = look.stopped
    return CatchUp(
        room_id=room.id,
        room_name=room.label,
        checkpoint=name,
        since=_since(look),
        messages=_messages(look.updated),
        deleted=_deletions(look.deleted),
        continuation=continuation,
        watermark=str(caught_up_at) if caught_up_at is not None else None,
        caught_up=look.caught_up,
        cut_short=stop.reason if stop else None,
        retry_after_seconds=stop.retry_after_seconds if stop else None,
        notes=notes,
    )


def _since(look: _Look) -> datetime:
    previous = look.previous
    if previous is None:
        return from_ms(look.first)
    if previous.caught_up_at is not None:
        return from_ms(previous.caught_up_at)
    return from_ms(min(previous.updated_after, previous.deleted_after))
