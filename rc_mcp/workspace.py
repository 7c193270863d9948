"""``catch_up`` without a room: what changed across every room the account is in, in a few calls.

A workspace checkpoint keeps one room checkpoint per room (named apart from the room-level ones, so
the two never disturb each other) and, per room, the room's activity stamp it last read to the end.
Each call lists the rooms (two small ``updatedSince`` requests) and reads only the rooms whose
activity moved past that stamp: DMs and rooms that mention the account first, then by activity.
A changed room usually costs one request (both streams at once). Edits and reactions do not move a
room's activity, so each call also re-reads up to two quiet rooms, round-robin, and says when the
whole workspace was last swept. Budgets apply across rooms; ``more:`` resumes where a call stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from rc_mcp.catchup import FIRST_LOOK, CatchUpReader, CheckpointError, Way
from rc_mcp.models import Room, RoomEntry
from rc_mcp.paging import Pager
from rc_mcp.results import Budget, CatchUp, WorkspaceCatchUp
from rc_mcp.rooms import RoomList
from rc_mcp.rules import DEFAULT_CATCH_UP_ITEMS, DEFAULT_CHARS, ArgumentError
from rc_mcp.store import CheckpointConflict, HistoryStore, StoreError, WorkspaceRoom, WorkspaceState
from rc_mcp.times import from_ms, to_ms

# Quiet rooms re-read per call, for the changes that do not move a room's activity.
SWEEP_PER_CALL = 2
# Room checkpoints of a workspace checkpoint are named with a character room-level names cannot hold.
ROOM_CHECKPOINT_PREFIX = "workspace/"


@dataclass(frozen=True)
class _Plan:
    changed: list[RoomEntry]
    swept: list[RoomEntry]
    sweep_cursor: str  # "" to start over
    wrapped: bool


class WorkspaceReader:
    """Workspace catch-ups of one account; calls on one workspace checkpoint are serialised."""

    def __init__(self, catch_ups: CatchUpReader, room_list: RoomList) -> None:
        self.catch_ups = catch_ups
        self.room_list = room_list
        self._locks: dict[str, anyio.Lock] = {}

    async def catch_up(self, pager: Pager, name: str, start: datetime | None, budget: Budget) -> WorkspaceCatchUp:
        store = self.catch_ups.store()
        async with self._locks.setdefault(name, anyio.Lock()):
            previous = await self._state(store, name, start)
            first_at = _first_at(previous, start, pager)
            entries = await self.room_list.refresh()
            await self.catch_ups.history.remember_rooms([Room(id=e.id, name=e.name, kind=e.type) for e in entries])
            plan = _plan(entries, previous, first_at)
            sections, rooms, finished = await self._look(pager, name, first_at, plan, budget)
            swept = sum(1 for entry in plan.swept if entry.id in rooms)
            swept_at = previous.swept_at if previous else None
            if finished and plan.wrapped:
                swept_at = pager.state.server_now_ms()
            cursor = plan.sweep_cursor if finished else (previous.sweep_cursor if previous else "")
            await self._save(store, previous, name, first_at, cursor, swept_at, rooms)
            return WorkspaceCatchUp(
                checkpoint=name,
                since=from_ms(first_at),
                sections=sections,
                rooms_total=len(entries),
                rooms_changed=len(plan.changed),
                rooms_swept=swept,
                swept_at=from_ms(swept_at) if swept_at is not None else None,
                caught_up=finished,
                continuation=None if finished else _continuation(name, budget),
                cut_short=next((s.cut_short for s in sections if s.cut_short), None),
                retry_after_seconds=next((s.retry_after_seconds for s in sections if s.retry_after_seconds), None),
                notes=pager.notes(),
            )

    async def _state(self, store: HistoryStore, name: str, start: datetime | None) -> WorkspaceState | None:
        try:
            previous = await anyio.to_thread.run_sync(store.workspace, name)
        except StoreError as exc:
            raise CheckpointError(f"the workspace checkpoint could not be read ({exc})") from None
        if previous is not None and start is not None:
            raise ArgumentError(
                f"workspace checkpoint {name!r} already exists: leave out since to continue from it, "
                "or pick a new checkpoint name to start over from another time"
            )
        return previous

    async def _save(
        self,
        store: HistoryStore,
        previous: WorkspaceState | None,
        name: str,
        first_at: int,
        cursor: str,
        swept_at: int | None,
        rooms: dict[str, WorkspaceRoom],
    ) -> None:
        try:
            await anyio.to_thread.run_sync(
                lambda: store.save_workspace(
                    previous, name=name, first_at=first_at, sweep_cursor=cursor, swept_at=swept_at, rooms=rooms
                )
            )
        except CheckpointConflict:
            raise CheckpointError(f"another rc-mcp process advanced workspace checkpoint {name!r}") from None
        except StoreError as exc:
            raise CheckpointError(f"the workspace checkpoint could not be saved ({exc})") from None

    async def _look(
        self, pager: Pager, name: str, first_at: int, plan: _Plan, budget: Budget
    ) -> tuple[list[CatchUp], dict[str, WorkspaceRoom], bool]:
        """Each room in turn, within one budget; the rooms read to their end are marked seen."""
        sections: list[CatchUp] = []
        rooms: dict[str, WorkspaceRoom] = {}
        left = budget
        way = Way(first_ms=first_at, one_request=True, shared_budget=True)
        for entry in [*plan.changed, *plan.swept]:
            if left.max_items <= 0 or left.max_chars <= 0:
                return sections, rooms, False
            room = Room(id=entry.id, name=entry.name, kind=entry.type)
            section = await self.catch_ups.catch_up(pager, room, ROOM_CHECKPOINT_PREFIX + name, left, way)
            if section.messages or section.deleted or not section.caught_up:
                sections.append(section.model_copy(update={"room_name": entry.name}))
            if not section.caught_up:
                return sections, rooms, False
            swept = pager.state.server_now_ms() if entry in plan.swept else None
            rooms[entry.id] = WorkspaceRoom(seen_activity=entry.activity_ms, swept_at=swept)
            left = left.after([*section.messages, *section.deleted])
        return sections, rooms, True


def _first_at(previous: WorkspaceState | None, start: datetime | None, pager: Pager) -> int:
    if previous is not None:
        return previous.first_at
    if start is not None:
        return to_ms(start)
    return pager.clock.now_ms() - FIRST_LOOK // timedelta(milliseconds=1)


def _plan(entries: list[RoomEntry], previous: WorkspaceState | None, first_at: int) -> _Plan:
    """Which rooms this call reads: the changed ones, most urgent first, then a few quiet ones."""
    known = previous.rooms if previous else {}

    def seen(entry: RoomEntry) -> int:
        room = known.get(entry.id)
        return room.seen_activity if room is not None else first_at

    changed = [e for e in entries if e.activity_ms > seen(e)]
    changed.sort(key=lambda e: (not (e.type == "direct message" or e.mentions > 0), -e.activity_ms, e.id))
    quiet = sorted((e for e in entries if e.activity_ms <= seen(e)), key=lambda e: e.id)
    cursor = previous.sweep_cursor if previous else ""
    after = [e for e in quiet if e.id > cursor] or quiet
    swept = after[:SWEEP_PER_CALL]
    wrapped = len(after) <= SWEEP_PER_CALL
    return _Plan(changed, swept, "" if wrapped else swept[-1].id, wrapped)


def _continuation(name: str, budget: Budget) -> dict[str, object]:
    """The same call again: the checkpoint and, when not the defaults, the budgets."""
    arguments: dict[str, object] = {"checkpoint": name}
    if budget.max_items != DEFAULT_CATCH_UP_ITEMS:
        arguments["max_items"] = budget.max_items
    if budget.max_chars != DEFAULT_CHARS:
        arguments["max_chars"] = budget.max_chars
    return arguments
