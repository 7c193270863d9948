"""What the local history costs on a page of 1,000 messages: the same sync_messages call with the
store off and on (first sight: all new; second sight: all compared), and the raw SQLite write.
Median of several runs. Run: python bench/store.py"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, Workspace, serve
from rc_mcp.history import History
from rc_mcp.models import Message
from rc_mcp.render import render
from rc_mcp.rules import UpdatedArguments, parse
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, MessageStore

BASE = 1_795_165_200_000
PAGE = 1000
RUNS = 7


async def page_ms(url: str, store: MessageStore | None) -> float:
    settings = Settings.from_env({"ROCKETCHAT_URL": url, "ROCKETCHAT_USER_ID": "AGENT", "ROCKETCHAT_AUTH_TOKEN": "t"})
    async with Session(settings, history=History(store)) as session:
        await session.room("BUSY")  # the one-off room-name lookup is not part of a page
        started = time.perf_counter()
        first = {"room_id": "BUSY", "next": "0", "count": 500, "max_chars": 200_000}
        result = await session.sync_messages(parse(UpdatedArguments, first))
        more = await session.sync_messages(parse(UpdatedArguments, result.continuation or {}))
        render(result), render(more)
        return (time.perf_counter() - started) * 1000


def main() -> None:
    ws = Workspace()
    ws.add_user("agent", token="t", user_id="AGENT")
    ws.add_user("alice")
    ws.add_room("busy", room_id="BUSY")
    for i in range(PAGE):
        ws.post("BUSY", "alice", f"message number {i} with a few more words of ordinary chat text", at=BASE + i)
    off, first, second, raw = [], [], [], []
    with serve(Emulator(ws)) as running:
        for _ in range(RUNS):
            off.append(anyio.run(page_ms, running.url, None))
            with tempfile.TemporaryDirectory() as state:
                store = MessageStore(Path(state) / FILE_NAME, "bench", max_messages=100_000, max_age_days=30)
                first.append(anyio.run(page_ms, running.url, store))
                second.append(anyio.run(page_ms, running.url, store))
                messages = [m for doc in ws.find_updates("BUSY") if (m := Message.from_wire(doc)) is not None]
                started = time.perf_counter()
                store.record(messages)
                raw.append((time.perf_counter() - started) * 1000)
                store.close()
    base = statistics.median(off)
    print(f"a page of {PAGE} messages through sync_messages (two calls of 500), median of {RUNS}:")
    print(f"store off:                      {base:6.1f} ms")
    print(
        f"store on, first sight (new):    {statistics.median(first):6.1f} ms ({statistics.median(first) / base:.2f}x)"
    )
    print(
        f"store on, second sight (diff):  {statistics.median(second):6.1f} ms ({statistics.median(second) / base:.2f}x)"
    )
    print(f"SQLite write of {PAGE} messages:    {statistics.median(raw):6.1f} ms (one transaction)")


if __name__ == "__main__":
    main()
