"""Rows and bytes fetched from the server per item shown, when an agent follows the continuations of
sync_messages (from a last_update) and of list_deleted to the end, at 1,000 and 10,000 items, pages
of 500. Next to it, what the offset continuations rc-mcp used before cost: each page downloaded the
whole range again (measured once per size, times the number of pages). Run: python bench/paging.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, Workspace
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.rules import DeletedArguments, StreamArguments, UpdatedArguments, parse
from rc_mcp.session import Session

BASE = 1_795_165_200_000
PAGE = 500
SYNC = "/api/v1/chat.syncMessages"


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.rows = self.bytes = self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if request.url.path == SYNC:
            result = json.loads(body)["result"]
            self.requests += 1
            self.bytes += len(body)
            self.rows += len(result["updated"]) + len(result["deleted"])
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def room(items: int, deleted: bool) -> Workspace:
    ws = Workspace(clock=lambda: BASE + 10 * items + 10_000)
    ws.add_user("agent", token="t", user_id="AGENT")
    ws.add_user("alice")
    ws.add_room("busy", room_id="BUSY")
    text = "an ordinary chat message of about this length, with a few words more"
    posted = [ws.post("BUSY", "alice", f"{text} #{i}", at=BASE + 1 + 3 * i) for i in range(items)]
    if deleted:
        for i, msg in enumerate(posted):
            ws.delete(msg, at=BASE + 5 * items + i)
    return ws


async def follow(ws: Workspace, model: type[StreamArguments], first: dict[str, Any]) -> tuple[int, Counting]:
    counting = Counting(Emulator(ws).app)
    settings = Settings.from_env(
        {"ROCKETCHAT_URL": "http://rc.test", "ROCKETCHAT_USER_ID": "AGENT", "ROCKETCHAT_AUTH_TOKEN": "t"}
    )
    shown = 0
    arguments: dict[str, Any] | None = first
    async with Session(settings, transport=counting) as session:
        while arguments is not None:
            read = session.sync_messages if model is UpdatedArguments else session.list_deleted
            page = await read(parse(model, arguments))  # type: ignore[arg-type]
            shown += len(page.messages) + len(page.deleted)
            arguments = page.continuation
    return shown, counting


async def whole_range(ws: Workspace) -> tuple[int, int]:
    """Rows and bytes of one lastUpdate answer for the whole range: what every old page re-read."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=Emulator(ws).app), base_url="http://rc.test"
    ) as http:
        answer = await http.get(
            SYNC,
            params={"roomId": "BUSY", "lastUpdate": iso_ms(BASE)},
            headers={"X-User-Id": "AGENT", "X-Auth-Token": "t"},
        )
    result = answer.json()["result"]
    return len(result["updated"]) + len(result["deleted"]), len(answer.content)


async def main() -> None:
    print(f"following continuations to the end, pages of {PAGE}:")
    for items in (1_000, 10_000):
        for name, model, deleted in (
            ("sync_messages from last_update", UpdatedArguments, False),
            ("list_deleted from next=0", DeletedArguments, True),
        ):
            ws = room(items, deleted)
            start = {"last_update": iso_ms(BASE)} if model is UpdatedArguments else {"next": "0"}
            shown, counting = await follow(ws, model, {"room_id": "BUSY", "count": PAGE, "max_chars": 200_000, **start})
            assert shown == items, (shown, items)
            print(
                f"  {items:>6} items, {name:<31} {counting.requests:>3} requests, {counting.rows / shown:.2f} rows "
                f"and {counting.bytes / shown:,.0f} bytes per item shown"
            )
        rows, size = await whole_range(room(items, False))
        pages = math.ceil(items / PAGE)
        print(
            f"  {items:>6} items, offset paging (before)         {pages:>3} requests, {pages * rows / items:.2f} rows "
            f"and {pages * size / items:,.0f} bytes per item shown ({pages * rows:,} rows, {pages * size / 1e6:.0f} MB)"
        )


if __name__ == "__main__":
    anyio.run(main)
