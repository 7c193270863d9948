"""Requests a workspace catch-up costs: 200 rooms, 10 of them changed since the last look, read with one
catch_up call (no room). Target: at most 2 room-list requests + 10 chat.syncMessages requests (one per
changed room) + the 2-room sweep of quiet rooms. Run: python bench/workspace.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, Workspace
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.history import History
from rc_mcp.results import WorkspaceCatchUp
from rc_mcp.rules import CatchUpArguments, parse
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, open_store

BASE = 1_795_165_200_000
ROOMS = 200
CHANGED = 10
PATHS = ("/api/v1/rooms.get", "/api/v1/subscriptions.get", "/api/v1/chat.syncMessages")


def workspace() -> tuple[Workspace, list[str]]:
    ws = Workspace(clock=lambda: BASE + 10_000_000)
    ws.add_user("agent", token="t", user_id="AGENT")
    ws.add_user("alice")
    rooms = [ws.add_room(f"room-{i:03}", t="p", members=["agent", "alice"], at=BASE).id for i in range(ROOMS)]
    for i, room in enumerate(rooms):
        for j in range(5):
            ws.post(room, "alice", f"message {j} in room {i}", at=BASE + 1000 + 10 * i + j)
    return ws, rooms


async def measure() -> tuple[int, int, int, WorkspaceCatchUp]:
    """Room-list requests, chat.syncMessages requests and new messages shown by the one call."""
    ws, rooms = workspace()
    emulator = Emulator(ws)
    settings = Settings.from_env(
        {"ROCKETCHAT_URL": "http://rc.test", "ROCKETCHAT_USER_ID": "AGENT", "ROCKETCHAT_AUTH_TOKEN": "t"}
    )
    with tempfile.TemporaryDirectory() as state:
        store = open_store(Path(state) / FILE_NAME, "bench", max_messages=100_000, max_age_days=3650).store
        transport = httpx.ASGITransport(app=emulator.app)
        async with Session(settings, transport=transport, history=History(store)) as session:
            arguments = {"since": iso_ms(BASE), "max_items": 1000, "max_chars": 200_000}
            while True:  # the first look at every room
                first = await session.catch_up(parse(CatchUpArguments, arguments))
                arguments.pop("since", None)
                if first.caught_up:
                    break
            for i, room in enumerate(rooms[:: ROOMS // CHANGED]):
                ws.post(room, "alice", f"news {i}", at=BASE + 5_000_000 + i)
            before = {path: len(emulator.requests_to(path)) for path in PATHS}
            result = await session.catch_up(parse(CatchUpArguments, {}))
            spent = {path: len(emulator.requests_to(path)) - before[path] for path in PATHS}
        if store is not None:
            store.close()
    assert isinstance(result, WorkspaceCatchUp)
    shown = sum(len(s.messages) for s in result.sections)
    return spent[PATHS[0]] + spent[PATHS[1]], spent[PATHS[2]], shown, result


TARGET = 2 + CHANGED + 2


async def main() -> None:
    lists, syncs, shown, result = await measure()
    target = TARGET
    print(f"workspace of {ROOMS} rooms, {CHANGED} changed since the last look, one catch_up call:")
    print(f"  room-list requests:         {lists} (rooms.get + subscriptions.get, with updatedSince)")
    print(f"  chat.syncMessages requests: {syncs} ({result.rooms_changed} changed rooms + {result.rooms_swept} swept)")
    print(f"  total:                      {lists + syncs} (target <= {target}); {shown} new messages shown")
    sys.exit(0 if lists + syncs <= target and shown == CHANGED else 1)


if __name__ == "__main__":
    anyio.run(main)
