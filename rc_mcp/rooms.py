"""Rooms: which room an agent means (an id, ``#name`` or a bare name, looked up once with
``rooms.info``), and the list of rooms the account is in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rc_mcp.client import Delta, RocketChatClient
from rc_mcp.errors import (
    AuthenticationFailed,
    RocketChatError,
    RoomArchived,
    RoomNotFound,
    ServerUnreachable,
    UnexpectedResponse,
)
from rc_mcp.models import Room, RoomEntry
from rc_mcp.times import parse_wire_date


class RoomDirectory:
    """Resolves what an agent calls a room; answers are cached for the life of the process."""

    def __init__(self, client: RocketChatClient) -> None:
        self.client = client
        self._rooms: dict[str, Room] = {}

    def known(self, given: str, room: Room) -> None:
        """Remember a room learned elsewhere (the local history, a room list)."""
        self._rooms[given] = room

    def cached(self, given: str) -> Room | None:
        return self._rooms.get(given)

    async def resolve(self, given: str) -> Room:
        if given in self._rooms:
            return self._rooms[given]
        if given.startswith("#"):
            room = await self._info(room_name=given[1:])
        else:
            found = await self._bare(given)
            if found is None:
                # Not remembered: a rate limit or a hiccup now must not pin the name to a wrong id.
                return Room(id=given)
            room = found
        self._rooms[given] = room
        return room

    async def _info(self, *, room_id: str | None = None, room_name: str | None = None) -> Room:
        room = Room.from_wire(await self.client.room_info(room_id=room_id, room_name=room_name))
        if room is None:
            raise UnexpectedResponse("rooms.info answered without a usable room id.")
        return room

    async def _bare(self, given: str) -> Room | None:
        """An id or a bare name, or None to go on with ``given`` as an id. The name is only a nicety:
        when a lookup fails for any reason but bad credentials, chat.syncMessages says what applies."""
        try:
            return await self._info(room_id=given)
        except RoomNotFound:
            pass
        except (AuthenticationFailed, ServerUnreachable):
            raise
        except RocketChatError:
            return None
        try:
            return await self._info(room_name=given)
        except RoomNotFound:
            return None  # neither an id nor a name it knows: the endpoint's answer says so
        except (AuthenticationFailed, ServerUnreachable, RoomArchived):
            raise
        except RocketChatError:
            return None


class RoomList:
    """The rooms the account is in, most recent activity first; after the first read, each refresh
    asks only for what changed (``updatedSince``): two small requests, one per route."""

    def __init__(self, client: RocketChatClient) -> None:
        self.client = client
        self._rooms: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._rooms_since: datetime | None = None
        self._subscriptions_since: datetime | None = None
        self.refreshed = False

    async def refresh(self) -> list[RoomEntry]:
        rooms = await self.client.rooms_get(updated_since=self._rooms_since)
        subscriptions = await self.client.subscriptions_get(updated_since=self._subscriptions_since)
        self._rooms_since = _apply(self._rooms, rooms, self._rooms_since)
        self._subscriptions_since = _apply(self._subscriptions, subscriptions, self._subscriptions_since)
        self.refreshed = True
        return self.entries()

    def entries(self) -> list[RoomEntry]:
        """The rooms as last read, most recent activity first."""
        found = []
        for subscription in self._subscriptions.values():
            room_id = subscription.get("rid")
            entry = RoomEntry.from_wire(self._rooms.get(room_id, {}) if isinstance(room_id, str) else {}, subscription)
            if entry is not None:
                found.append(entry)
        return sorted(found, key=lambda e: (-e.activity_ms, e.id))


def _apply(kept: dict[str, dict[str, Any]], delta: Delta, since: datetime | None) -> datetime | None:
    """Fold a list or a delta into ``kept`` (by ``_id``); the next ``updatedSince`` is the newest
    server time in it, so nothing changed in between is ever skipped."""
    if since is None:
        kept.clear()
    stamps: list[datetime | None] = [since]
    for doc in delta.update:
        if isinstance(doc.get("_id"), str):
            kept[doc["_id"]] = doc
            stamps.append(parse_wire_date(doc.get("_updatedAt")))
    for doc in delta.remove:
        kept.pop(str(doc.get("_id")), None)
        stamps.append(parse_wire_date(doc.get("_deletedAt")))
    known = [stamp for stamp in stamps if stamp is not None]
    return max(known) if known else None
