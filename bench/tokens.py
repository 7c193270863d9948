"""Tokens the agent reads vs the raw JSON the server returned, on a realistic page of 100 messages,
counted with o200k_base (bpe-openai): the text answer, and the structured content programs get.
Also checks that every message's id, author, time and text is still in the text, and that the
structured content keeps them too. Run: python bench/tokens.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import bpe_openai
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.dataset import realistic_room
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.render import render
from rc_mcp.rules import UpdatedArguments, parse
from rc_mcp.sanitize import clean
from rc_mcp.session import Session

TARGET = 0.20
STRUCTURED_TARGET = 0.50


async def measure() -> tuple[float, float]:
    ws, room, user_id, token = realistic_room()
    transport = httpx.ASGITransport(app=Emulator(ws).app)
    headers = {"X-User-Id": user_id, "X-Auth-Token": token}
    async with httpx.AsyncClient(transport=transport, base_url="http://rc.test", headers=headers) as http:
        raw = (await http.get("/api/v1/chat.syncMessages", params={"roomId": room, "lastUpdate": DEMO_START})).text
    settings = Settings.from_env(
        {"ROCKETCHAT_URL": "http://rc.test", "ROCKETCHAT_USER_ID": user_id, "ROCKETCHAT_AUTH_TOKEN": token}
    )
    async with Session(settings, transport=transport) as session:
        result = await session.sync_messages(
            parse(UpdatedArguments, {"room_id": room, "last_update": DEMO_START, "count": 100})
        )
    text = render(result)
    structured = json.dumps(result.structured(), ensure_ascii=False, separators=(",", ":"))
    if "--show" in sys.argv:
        print(text)
    encoding = bpe_openai.get_encoding("o200k_base")
    raw_tokens, text_tokens = len(encoding.encode(raw)), len(encoding.encode(text))
    structured_tokens = len(encoding.encode(structured))
    missing = [
        m.id
        for m in result.messages
        if not all(part in text for part in (m.id, m.author, m.ts.strftime("%H:%M:%S"), clean(m.text, 10**9)))
    ]
    kept = {m["id"]: m for m in result.structured()["messages"]}
    lost = [m.id for m in result.messages if kept.get(m.id, {}).get("text", "") != m.text or "author" not in kept[m.id]]
    ratio, structured_ratio = text_tokens / raw_tokens, structured_tokens / raw_tokens
    print(f"messages on the page:       {len(result.messages)}")
    print(f"raw server JSON:            {raw_tokens} tokens ({len(raw)} chars)")
    print(f"rc-mcp text answer:         {text_tokens} tokens ({len(text)} chars)")
    print(f"text ratio:                 {ratio:.1%} (target <= {TARGET:.0%})")
    print(f"structured content:         {structured_tokens} tokens ({len(structured)} chars)")
    print(f"structured ratio:           {structured_ratio:.1%} (target <= {STRUCTURED_TARGET:.0%})")
    print(f"messages missing a fact:    {len(missing)} in the text, {len(lost)} in the structured content")
    complete = not missing and not lost and len(result.messages) == 100
    return (ratio, structured_ratio) if complete else (1.0, 1.0)


if __name__ == "__main__":
    text_ratio, structured_ratio = anyio.run(measure)
    sys.exit(0 if text_ratio <= TARGET and structured_ratio <= STRUCTURED_TARGET else 1)
