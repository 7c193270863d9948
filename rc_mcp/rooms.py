"""Which room an agent means: an id, ``#name`` or a bare name, looked up once with ``rooms.info``."""

from __future__ import annotations

from rc_mcp.client import RocketChatClient
from rc_mcp.errors import (
    AuthenticationFailed,
    RocketChatError,
    RoomArchived,
    RoomNotFound,
    ServerUnreachable,
    UnexpectedResponse,
)
from rc_mcp.models import Room


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
            room = await self._bare(given)
        self._rooms[given] = room
        return room

    async def _info(self, *, room_id: str | None = None, room_name: str | None = None) -> Room:
        room = Room.from_wire(await self.client.room_info(room_id=room_id, room_name=room_name))
        if room is None:
            raise UnexpectedResponse("rooms.info answered without a usable room id.")
        return room

    async def _bare(self, given: str) -> Room:
        """An id or a bare name. As an id, the name is only a nicety: when that lookup fails for any
        reason but bad credentials, go on with ``given`` and let chat.syncMessages say what applies."""
        try:
            return await self._info(room_id=given)
        except RoomNotFound:
            pass
        except (AuthenticationFailed, ServerUnreachable):
            raise
        except RocketChatError:
            return Room(id=given)
        try:
            return await self._info(room_name=given)
        except RoomNotFound:
            return Room(id=given)  # neither an id nor a name it knows: the endpoint's answer says so
        except (AuthenticationFailed, ServerUnreachable, RoomArchived):
            raise
        except RocketChatError:
            return Room(id=given)
