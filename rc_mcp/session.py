"""One account on one Rocket.Chat server: what every tool call needs, usable without MCP.

Usable from plain Python::

    from rc_mcp.rules import UpdatedArguments, parse
    async with Session(Settings.from_env(os.environ)) as rc:
        page = await rc.sync_messages(parse(UpdatedArguments, {"room_id": "GENERAL", "next": "0"}))

Each tool is one typed method: validated arguments in, a result (``StreamPage``, ``CatchUp``) out.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from rc_mcp.catchup import CatchUpReader, Way
from rc_mcp.client import RocketChatClient
from rc_mcp.config import Settings
from rc_mcp.history import History, HistoryUnavailable
from rc_mcp.models import Room
from rc_mcp.paging import Clock, Kept, Pager, Progress, ServerState, SystemClock
from rc_mcp.results import Budget, CatchUp, FoundMessage, RoomPage, SearchPage, StreamPage, WorkspaceCatchUp
from rc_mcp.rooms import RoomDirectory, RoomList
from rc_mcp.rules import (
    DEFAULT_CATCH_UP_ITEMS,
    DEFAULT_CHARS,
    DEFAULT_CHECKPOINT,
    DEFAULT_COUNT,
    DEFAULT_HITS,
    ArgumentError,
    CatchUpArguments,
    DeletedArguments,
    ListRoomsArguments,
    SearchArguments,
    StreamArguments,
    UpdatedArguments,
    plan,
)
from rc_mcp.store import StoreError
from rc_mcp.streams import read_stream
from rc_mcp.times import from_ms
from rc_mcp.workspace import WorkspaceReader

if TYPE_CHECKING:
    import httpx  # annotations only: importing it costs start-up

# Time kept back from the call deadline for what follows the last request: history, rendering.
DEADLINE_MARGIN_SECONDS = 2.0


class Session:
    """The client, server state, room names and local history of one account."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        history: History | None = None,
        clock: Clock | None = None,
        state: ServerState | None = None,
    ) -> None:
        self.settings = settings
        self.client = RocketChatClient(settings, transport=transport)
        self.state = state or ServerState(clock=clock or SystemClock())
        self.kept = Kept(self.state.clock)
        self.rooms = RoomDirectory(self.client)
        self.room_list = RoomList(self.client)
        self.history = history or History(None)
        self.catch_ups = CatchUpReader(self.history)
        self.workspace = WorkspaceReader(self.catch_ups, self.room_list)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.aclose()

    def pager(self, started_ms: int, progress: Progress | None = None) -> Pager:
        """The requests of a call that started at ``started_ms`` (on this session's clock): paced,
        bounded, and done a margin before the call's deadline, which counts from that start."""
        budget = max(1.0, self.settings.call_deadline - DEADLINE_MARGIN_SECONDS)
        return Pager(
            self.client,
            self.state,
            self.kept,
            max_wait=self.settings.max_rate_limit_wait,
            deadline_ms=started_ms + int(budget * 1000),
            progress=progress,
        )

    def _start(self, started_ms: int | None) -> int:
        """When a call started, on this session's clock: as the MCP layer took it before opening the
        session, or now. The deadline counts from it, so looking the room up counts against it too."""
        return self.state.clock.now_ms() if started_ms is None else started_ms

    async def room(self, given: str) -> Room:
        """A room from what an agent called it: an id, ``#name`` or a bare name."""
        cached = self.rooms.cached(given)
        if cached is not None:
            return cached
        if not given.startswith("#"):
            remembered = await self.history.room(given)
            if remembered is not None:
                self.rooms.known(given, remembered)
                return remembered
        room = await self.rooms.resolve(given)
        await self.history.remember_room(room)
        return room

    async def list_rooms(self, arguments: ListRoomsArguments) -> RoomPage:
        """The rooms the account is in, most recent activity first, with unread counts and mentions."""
        entries = await self.room_list.refresh()
        await self.history.remember_rooms([entry.room() for entry in entries])
        for entry in entries:
            if entry.name.startswith("#"):
                self.rooms.known(entry.name, entry.room())
        wanted = (arguments.query or "").strip().casefold()
        matching = [e for e in entries if wanted in e.name.casefold()] if wanted else entries
        offset, count = arguments.offset or 0, arguments.count or DEFAULT_COUNT
        shown = matching[offset : offset + count]
        continuation: dict[str, Any] | None = None
        if offset + len(shown) < len(matching):
            continuation = {**arguments.model_dump(exclude_none=True), "offset": offset + len(shown)}
        return RoomPage(
            rooms=shown, total=len(matching), offset=offset, query=arguments.query, continuation=continuation
        )

    async def search_history(self, arguments: SearchArguments) -> SearchPage:
        """Messages rc-mcp has seen that match, best match first (local history only)."""
        store = self.history.require("search_history", "use sync_messages with last_update to read rooms instead")
        room = await self.room(arguments.room_id) if arguments.room_id else None
        count, offset = arguments.count or DEFAULT_HITS, arguments.offset or 0
        try:
            room_id = room.id if room else None
            hits = await anyio.to_thread.run_sync(
                lambda: store.search(arguments.query, room_id=room_id, limit=count + 1, offset=offset)
            )
            span = await anyio.to_thread.run_sync(store.search_span)
        except ValueError:
            raise ArgumentError(
                f"query={arguments.query[:60]!r} has no words to search for: send words or a quoted phrase"
            ) from None
        except StoreError as exc:
            raise HistoryUnavailable(f"the local history could not be searched: {exc}") from None
        found = [
            FoundMessage.model_construct(
                **dict(hit.message), deleted_at=from_ms(hit.deleted_at) if hit.deleted_at else None
            )
            for hit in hits[:count]
        ]
        continuation = None
        if len(hits) > count:
            continuation = {**arguments.model_dump(exclude_none=True), "offset": offset + count}
        page = SearchPage(
            query=arguments.query,
            room_id=room_id,
            messages=found,
            offset=offset,
            searched=span.messages,
            rooms=span.rooms,
            oldest_seen_at=from_ms(span.oldest_seen_at) if span.oldest_seen_at else None,
            continuation=continuation,
        )
        return page.with_notes(self.history.startup_notes())

    async def sync_messages(
        self, arguments: UpdatedArguments, progress: Progress | None = None, *, started_ms: int | None = None
    ) -> StreamPage:
        """Messages created or changed in a room (the endpoint's UPDATED side)."""
        return await self._stream(arguments, progress, self._start(started_ms))

    async def list_deleted(
        self, arguments: DeletedArguments, progress: Progress | None = None, *, started_ms: int | None = None
    ) -> StreamPage:
        """Messages deleted from a room (the endpoint's DELETED side)."""
        return await self._stream(arguments, progress, self._start(started_ms))

    async def _stream(self, arguments: StreamArguments, progress: Progress | None, started_ms: int) -> StreamPage:
        room = await self.room(arguments.room_id)
        request = plan(arguments, room.id)
        page = await read_stream(
            self.pager(started_ms, progress), self.history, room, request, Budget(request.count, request.max_chars)
        )
        return page.with_notes(self.history.startup_notes())

    async def catch_up(
        self, arguments: CatchUpArguments, progress: Progress | None = None, *, started_ms: int | None = None
    ) -> CatchUp | WorkspaceCatchUp:
        """Everything that changed since this checkpoint's last look: both streams, of one room or of every room."""
        started_ms = self._start(started_ms)
        self.catch_ups.store()  # refuse before any request when there is no history
        budget = Budget(arguments.max_items or DEFAULT_CATCH_UP_ITEMS, arguments.max_chars or DEFAULT_CHARS)
        name = arguments.checkpoint or DEFAULT_CHECKPOINT
        notes = self.history.startup_notes()
        if arguments.room_id is None:
            look = await self.workspace.catch_up(self.pager(started_ms, progress), name, arguments.since, budget)
            return look.with_notes(notes)
        room = await self.room(arguments.room_id)
        pager = self.pager(started_ms, progress)
        result = await self.catch_ups.catch_up(pager, room, name, budget, Way(start=arguments.since))
        return result.with_notes(notes)
