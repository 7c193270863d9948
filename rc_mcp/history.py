"""What rc-mcp remembers of what it showed, as the tools use it.

Each entry in ``updated`` is marked with what kind of change it is, each deletion with what the
message was, and every shown item is recorded. The local history is a nicety on top of the
server's answer: when it fails, the answer is still given, with a note saying what is missing.
"""

from __future__ import annotations

import logging

import anyio

from rc_mcp.changes import classify
from rc_mcp.config import STATE_DIR_VAR, STORE_VAR
from rc_mcp.models import Deletion, Message, Room
from rc_mcp.store import HistoryStore, StoreError

log = logging.getLogger(__name__)


class HistoryUnavailable(Exception):
    """A tool that needs the local history was called while it is off or cannot be read."""


class History:
    """The local store behind the tools, or its absence (``store`` None: history off)."""

    def __init__(self, store: HistoryStore | None, problem: str | None = None) -> None:
        self.store = store
        # Why history is off although it was asked for; said once, in the first answer.
        self._problem = problem
        self._named: dict[str, str | None] = {}

    def require(self, tool: str, instead: str) -> HistoryStore:
        """The store, for a tool that cannot work without it."""
        if self.store is None:
            raise HistoryUnavailable(
                f"{tool} needs the local history, which is off for this rc-mcp: {instead} (or turn the "
                f"history on, see {STORE_VAR} and {STATE_DIR_VAR})"
            )
        return self.store

    def startup_notes(self) -> list[str]:
        """The reason history is off, the first time it is asked for; nothing after that."""
        problem, self._problem = self._problem, None
        return [problem] if problem else []

    def _failed(self, notes: list[str], what: str, exc: StoreError) -> None:
        log.warning("local history: %s failed: %s", what, exc)
        notes.append(f"local history could not {what} ({exc}); the answer above is complete without it")

    async def annotate(
        self, messages: list[Message], deletions: list[Deletion], notes: list[str]
    ) -> tuple[list[Message], list[Deletion]]:
        """Messages with their kind of change and deletions with what was known of them."""
        store = self.store
        if store is None or not (messages or deletions):
            return messages, deletions
        ids = [m.id for m in messages] + [d.id for d in deletions]
        try:
            known = await anyio.to_thread.run_sync(store.known, ids)
        except StoreError as exc:
            self._failed(notes, "be read, so change kinds and recalled texts are missing", exc)
            return messages, deletions
        return (
            [m.model_copy(update={"change": classify(known.get(m.id), m)}) for m in messages],
            [d.model_copy(update={"seen_before": d.id in known, "recalled": known.get(d.id)}) for d in deletions],
        )

    async def record(self, messages: list[Message], deletions: list[Deletion], notes: list[str]) -> None:
        store = self.store
        if store is None or not (messages or deletions):
            return
        try:
            await anyio.to_thread.run_sync(lambda: store.record(messages, deletions))
        except StoreError as exc:
            self._failed(notes, "save what was shown", exc)

    async def room(self, room_id: str) -> Room | None:
        """A room's name remembered from an earlier run, so a known id costs no lookup."""
        store = self.store
        if store is None:
            return None
        try:
            name = await anyio.to_thread.run_sync(store.room_name, room_id)
        except StoreError:
            return None
        return Room(id=room_id, name=name) if name is not None else None

    async def remember_room(self, room: Room) -> None:
        await self.remember_rooms([room])

    async def remember_rooms(self, rooms: list[Room]) -> None:
        """Keep the rooms' names, so that later answers (searches) can name them; each once."""
        store = self.store
        fresh = [room for room in rooms if self._named.get(room.id) != room.label]
        if store is None or not fresh:
            return

        def write() -> None:
            for room in fresh:
                store.remember_room(room.id, room.label)

        try:
            await anyio.to_thread.run_sync(write)
        except StoreError as exc:
            log.warning("local history: could not remember room names: %s", exc)
            return
        self._named.update((room.id, room.label) for room in fresh)
