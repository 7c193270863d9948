"""Tokens the agent reads (our text answer) vs the raw JSON the server returned, on a realistic page
of 100 messages, counted with o200k_base (bpe-openai). Also checks that every message's id, author,
time and text is still in our text. Run: python bench/tokens.py"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import bpe_openai
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.dataset import realistic_room
from rc_mcp.client import RocketChatClient
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, serve
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.render import clean, render
from rc_mcp.sync import sync_messages

TARGET = 0.20


async def measure() -> float:
    ws, room, user_id, token = realistic_room()
    with serve(Emulator(ws)) as running:
        settings = Settings.from_env(
            {"ROCKETCHAT_URL": running.url, "ROCKETCHAT_USER_ID": user_id, "ROCKETCHAT_AUTH_TOKEN": token}
        )
        raw = httpx.get(
            running.url + "/api/v1/chat.syncMessages",
            params={"roomId": room, "lastUpdate": DEMO_START},
            headers={"X-User-Id": user_id, "X-Auth-Token": token},
        ).text
        async with RocketChatClient(settings) as client:
            result = await sync_messages(client, room_id=room, last_update=DEMO_START, count=100)
    text = render(result)
    if "--show" in sys.argv:
        print(text)
    encoding = bpe_openai.get_encoding("o200k_base")
    raw_tokens, text_tokens = len(encoding.encode(raw)), len(encoding.encode(text))
    missing = [
        m.id
        for m in result.messages
        if not all(part in text for part in (m.id, m.author, m.ts.strftime("%H:%M:%S"), clean(m.text, 10**9)))
    ]
    ratio = text_tokens / raw_tokens
    print(f"messages on the page:       {len(result.messages)} (of {result.total})")
    print(f"raw server JSON:            {raw_tokens} tokens ({len(raw)} chars)")
    print(f"rc-mcp text answer:         {text_tokens} tokens ({len(text)} chars)")
    print(f"ratio:                      {ratio:.1%} (target <= {TARGET:.0%})")
    print(f"messages missing a fact:    {len(missing)} (id, author, time and text checked for each)")
    return ratio if not missing and len(result.messages) == 100 else 1.0


if __name__ == "__main__":
    ratio = anyio.run(measure)
    sys.exit(0 if ratio <= TARGET else 1)
