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

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio

from rc_mcp.catchup import FIRST_LOOK, CatchUpReader, CheckpointError, Staged, Way
from rc_mcp.errors import NotAllowed, RocketChatError, RoomArchived, RoomNotFound
from rc_mcp.models import Room, RoomEntry
from rc_mcp.paging import Pager, Stop
from rc_mcp.results import FRAME_CHARS, SECTION_CHARS, Budget, CatchUp, WorkspaceCatchUp
from rc_mcp.rooms import RoomList
from rc_mcp.rules import DEFAULT_CATCH_UP_ITEMS, DEFAULT_CHARS, ArgumentError
from rc_mcp.sanitize import one_line
from rc_mcp.store import CheckpointConflict, HistoryStore, StoreError, WorkspaceRoom, WorkspaceState
from rc_mcp.streams import stopped_error
from rc_mcp.times import from_ms, to_ms

log = logging.getLogger(__name__)

# Quiet rooms re-read per call, for the changes that do not move a room's activity.
SWEEP_PER_CALL = 2
# Room checkpoints of a workspace checkpoint are named with a character room-level names cannot hold.
ROOM_CHECKPOINT_PREFIX = "workspace/"
# No room is read in the last second before the call's own deadline: that second saves the workspace
# checkpoint and renders the answer.
SAVE_SECONDS = 1.0
# How much of an error's text a note repeats.
REASON_CHARS = 300
# A room the account is subscribed to but may not read (left, removed, or refused by the server): an
# answer about that room alone, which the next call would meet again.
UNREADABLE = (NotAllowed, RoomNotFound, RoomArchived)
# Passed-over rooms named in a note each; more are counted in one note (notes are outside max_chars).
NOTED_ONE_BY_ONE = 3


@dataclass(frozen=True)
class _Plan:
    changed: list[RoomEntry]
    swept: list[RoomEntry]
    sweep_cursor: str  # "" to start over
    wrapped: bool


@dataclass(frozen=True)
class _RoomRead:
    """One room read this call: its section, staged, and, when it was read to its end, what marks it seen."""

    entry: RoomEntry
    staged: Staged
    seen: WorkspaceRoom | None

    @property
    def shows(self) -> bool:
        section = self.staged.result
        return bool(section.messages or section.deleted or not section.caught_up)


@dataclass
class _Reading:
    """What one call read and then saved: the rooms read (their checkpoints not yet moved), the rooms
    saved as read to their end, whether every planned room was, how many were passed over, and notes
    on what failed (a room that could not be read, a checkpoint not saved)."""

    read: list[_RoomRead] = field(default_factory=list)
    rooms: dict[str, WorkspaceRoom] = field(default_factory=dict)
    finished: bool = False
    passed_over: list[RocketChatError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sections(self) -> list[CatchUp]:
        """The sections to show: rooms read with something to say (after ``commit``: only those saved)."""
        return [room.staged.result for room in self.read if room.shows]


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
            await self.catch_ups.history.remember_rooms([entry.room() for entry in entries])
            plan = _plan(entries, previous, first_at)
            # Rooms are read, then saved together: a cancel while reading (the host's, or the tool's
            # deadline) loses nothing, since no checkpoint has moved. Reading stops shortly before the
            # deadline, and the saving is shielded, so a cancel cannot drop rooms already marked read.
            stop_at = anyio.current_effective_deadline() - SAVE_SECONDS
            reading = await self._look(pager, name, first_at, plan, budget, stop_at)
            await anyio.lowlevel.checkpoint()  # a cancel that came while reading ends the call here, unsaved
            with anyio.CancelScope(shield=True):
                await self._commit(reading)
                swept_at = await self._save_reading(store, previous, name, first_at, plan, reading, pager)
            sections = reading.sections
            swept = sum(1 for entry in plan.swept if entry.id in reading.rooms)
            return WorkspaceCatchUp(
                checkpoint=name,
                since=from_ms(first_at),
                sections=sections,
                rooms_total=len(entries),
                rooms_changed=len(plan.changed),
                rooms_swept=swept,
                rooms_passed_over=len(reading.passed_over),
                swept_at=from_ms(swept_at) if swept_at is not None else None,
                # A room passed over is not caught up, though calling again at once would not help.
                caught_up=reading.finished and not reading.passed_over,
                continuation=None if reading.finished else _continuation(name, budget),
                cut_short=next((s.cut_short for s in sections if s.cut_short), None),
                retry_after_seconds=next((s.retry_after_seconds for s in sections if s.retry_after_seconds), None),
                notes=[*pager.notes(), *reading.notes],
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

    async def _save_reading(
        self,
        store: HistoryStore,
        previous: WorkspaceState | None,
        name: str,
        first_at: int,
        plan: _Plan,
        reading: _Reading,
        pager: Pager,
    ) -> int | None:
        """Save where the call stopped; when the whole workspace was last swept, as saved."""
        swept_at = previous.swept_at if previous else None
        cursor = previous.sweep_cursor if previous else ""
        if reading.finished:
            cursor = plan.sweep_cursor
            if plan.wrapped:
                swept_at = pager.state.server_now_ms()
        try:
            await self._save(store, previous, name, first_at, cursor, swept_at, reading.rooms)
        except Exception as exc:  # a bug included: the rooms' own checkpoints have moved, so they are shown
            if not reading.sections:
                raise
            if not isinstance(exc, CheckpointError):
                log.exception("workspace catch_up: saving workspace checkpoint %s failed unexpectedly", name)
                exc = CheckpointError(f"the workspace checkpoint could not be saved ({type(exc).__name__})")
            # The rooms shown are saved in their own checkpoints: the next call reads them again and
            # shows only what is newer.
            reading.finished = False
            reading.notes.append(one_line(str(exc), REASON_CHARS))
            return previous.swept_at if previous else None
        return swept_at

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
        self, pager: Pager, name: str, first_at: int, plan: _Plan, budget: Budget, stop_at: float
    ) -> _Reading:
        """Each room in turn, within one budget, staged for ``_commit``. A room this account may not
        read is passed over, unseen, so it never holds up the rooms after it. Any other failure ends
        the call with the rooms before it, or, when none had anything to show, fails it."""
        reading = _Reading()
        left = budget.reserve(FRAME_CHARS)
        way = Way(first_ms=first_at, one_request=True, shared_budget=True, whole_answer=False)
        checkpoint = ROOM_CHECKPOINT_PREFIX + name
        for entry in [*plan.changed, *plan.swept]:
            room_budget = left.reserve(SECTION_CHARS)
            if room_budget.max_items <= 0 or room_budget.max_chars <= 0:
                return reading
            try:
                staged = await self._room(pager, entry.room(), checkpoint, room_budget, way, stop_at)
            except UNREADABLE as exc:
                reading.passed_over.append(exc)
                if len(reading.passed_over) <= NOTED_ONE_BY_ONE:
                    reading.notes.append(_passed_over(entry, exc))
                continue
            except Exception as exc:
                if not reading.sections:
                    raise
                reading.notes.append(_failure(entry, exc))
                return reading
            section = staged.result
            done = WorkspaceRoom(
                seen_activity=entry.activity_ms,
                swept_at=pager.state.server_now_ms() if entry in plan.swept else None,
            )
            room = _RoomRead(entry, staged, done if section.caught_up else None)
            reading.read.append(room)
            if room.shows:  # a room with nothing to say takes no room in the answer
                left = room_budget.after([*section.messages, *section.deleted])
            if not section.caught_up:
                return reading
        if reading.passed_over and not reading.read:
            raise reading.passed_over[0]  # no room could be read: this is no one room's problem
        if len(reading.passed_over) > NOTED_ONE_BY_ONE:
            more = len(reading.passed_over) - NOTED_ONE_BY_ONE
            reading.notes.append(f"{more} more rooms were passed over the same way.")
        reading.finished = True
        return reading

    async def _commit(self, reading: _Reading) -> None:
        """Save the rooms read, in order. A save that fails ends the answer before that room: it and the
        rooms after it are read again by the next call (or, when nothing could be shown, the call fails)."""
        for n, room in enumerate(reading.read):
            try:
                await self.catch_ups.commit(room.staged)
            except Exception as exc:  # any failure, a bug included: the rooms before it are saved, and shown
                del reading.read[n:]
                if not reading.sections:
                    raise
                reading.finished = False
                reading.notes.append(_failure(room.entry, exc))
                return
            if room.seen is not None:
                reading.rooms[room.entry.id] = room.seen

    async def _room(self, pager: Pager, room: Room, name: str, budget: Budget, way: Way, stop_at: float) -> Staged:
        """One room's catch-up, read but not saved, unless the call's deadline comes first (then
        ServerUnreachable)."""
        staged: Staged | None = None
        with anyio.CancelScope(deadline=stop_at):
            staged = await self.catch_ups.stage(pager, room, name, budget, way)
        if staged is None:
            raise stopped_error(Stop("deadline"), pager)
        return staged


def _passed_over(entry: RoomEntry, exc: RocketChatError) -> str:
    room = one_line(f"{entry.name} (id {entry.id})", REASON_CHARS)
    return f"{room} was passed over: {one_line(str(exc), REASON_CHARS)} It stays unread; later calls try it again."


def _failure(entry: RoomEntry, exc: Exception) -> str:
    """The note for a room that failed, on one clean line."""
    if isinstance(exc, RocketChatError | CheckpointError):
        why = one_line(str(exc), REASON_CHARS)
    else:
        log.exception("workspace catch_up: reading room %s failed unexpectedly", entry.id)
        why = f"an unexpected error ({type(exc).__name__}); the details are in rc-mcp's log."
    room = one_line(f"{entry.name} (id {entry.id})", REASON_CHARS)
    return (
        f"catch_up stopped at {room}, which could not be read: {why} "
        "The rooms above are complete; the next call goes on from there."
    )


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
