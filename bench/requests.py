"""Requests spent on a full catch-up of 5,000 changes through the emulator's rate limiter:
rc-mcp's catch_up (large pages, paced by X-RateLimit-*) next to a client that pages both streams
with the official mobile app's page size of 50. Run: python bench/requests.py

The limiter allows 10 calls per window like a real server, with a 1-second window instead of 60 s
so the run is quick; the wall time a real server would impose is computed from the request count.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, RateLimiter, Workspace, serve
from rc_mcp.history import History
from rc_mcp.rules import CatchUpArguments, parse
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, MessageStore

BASE = 1_795_165_200_000
CHANGES = 5000
DELETIONS = 400
WINDOW_CALLS = 10


def workspace() -> tuple[Workspace, str]:
    ws = Workspace()
    ws.add_user("agent", token="bench-token", user_id="AGENT")
    ws.add_user("alice")
    room = ws.add_room("busy", room_id="BUSY").id
    ids = [ws.post(room, "alice", f"message {i}", at=BASE + 10 * i) for i in range(CHANGES - DELETIONS)]
    for i, msg in enumerate(ids[: DELETIONS * 2 : 2]):
        ws.delete(msg, at=BASE + 10 * CHANGES + i)
    return ws, room


def limited(ws: Workspace) -> Emulator:
    return Emulator(ws, rate_limiter=RateLimiter(calls=WINDOW_CALLS, window_ms=1000))


async def rc_mcp_catch_up(url: str, room: str, state: Path) -> None:
    settings = Settings.from_env(
        {
            "ROCKETCHAT_URL": url,
            "ROCKETCHAT_USER_ID": "AGENT",
            "ROCKETCHAT_AUTH_TOKEN": "bench-token",
            "ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT": "5",
        }
    )
    store = MessageStore(state / FILE_NAME, "bench", max_messages=100_000, max_age_days=30)
    async with Session(settings, history=History(store)) as session:
        arguments = {"room_id": room, "since": "2026-11-20T08:00:00Z", "max_items": 1000, "max_chars": 200_000}
        while True:
            result = await session.catch_up(parse(CatchUpArguments, arguments))
            arguments.pop("since", None)
            if result.caught_up:
                break
    store.close()


def mobile_style(url: str, room: str) -> int:
    """Follow cursor.next with count=50 for each stream, waiting out 429s, like the mobile app."""
    headers = {"X-User-Id": "AGENT", "X-Auth-Token": "bench-token"}
    requests = 0
    with httpx.Client(base_url=url, headers=headers) as http:
        for kind in ("UPDATED", "DELETED"):
            cursor: str | None = str(BASE - 1)
            while cursor is not None:
                answer = http.get(
                    "/api/v1/chat.syncMessages", params={"roomId": room, "type": kind, "next": cursor, "count": 50}
                )
                requests += 1
                if answer.status_code == 429:
                    time.sleep(max(0.0, int(answer.headers["X-RateLimit-Reset"]) / 1000 - time.time()) + 0.05)
                    continue
                cursor = answer.json()["result"]["cursor"]["next"]
    return requests


def main() -> None:
    ws, room = workspace()
    with serve(limited(ws)) as running, tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        anyio.run(rc_mcp_catch_up, running.url, room, Path(state))
        ours_time = time.perf_counter() - started
        ours = len(running.emulator.requests_to("/api/v1/chat.syncMessages"))
        ours_refused = running.emulator.rate_limiter.rejected if running.emulator.rate_limiter else 0
    ws, room = workspace()
    with serve(limited(ws)) as running:
        theirs = mobile_style(running.url, room)
        theirs_refused = running.emulator.rate_limiter.rejected if running.emulator.rate_limiter else 0

    def real_minutes(requests: int) -> float:
        return (math.ceil(requests / WINDOW_CALLS) - 1) if requests > WINDOW_CALLS else 0.0

    print(
        f"catch-up of {CHANGES} changes ({CHANGES - DELETIONS} messages, {DELETIONS} deletions), "
        f"limiter {WINDOW_CALLS} calls/window"
    )
    print(
        f"rc-mcp catch_up (pages of 1000):   {ours:4d} requests, {ours_refused} refused (429), {ours_time:.1f} s here, "
        f"~{real_minutes(ours):.0f} min of rate-limit waits on a real server"
    )
    print(
        f"mobile-style client (count=50):   {theirs:4d} requests, {theirs_refused} refused (429), "
        f"~{real_minutes(theirs - theirs_refused):.0f} min of rate-limit waits on a real server"
    )


if __name__ == "__main__":
    main()
