"""``rc-mcp demo``: a short scripted agent session, through a real MCP client over stdio, against
the built-in demo workspace. It shows exactly what an agent sees."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from rc_mcp.config import STATE_DIR_VAR, TOKEN_VAR, URL_VAR, USER_ID_VAR
from rc_mcp.emulator import Emulator, RateLimiter, Workspace, demo_workspace, serve
from rc_mcp.emulator.seed import DEMO_START

_RULE = "─" * 78


def main() -> None:
    anyio.run(_session)


async def _session() -> None:
    demo = demo_workspace()
    ws = demo.workspace
    # Rocket.Chat's 10 calls per window, with a 10-second window instead of 60 so the demo's one
    # wait for the window (rc-mcp paces itself) is short.
    emulator = Emulator(ws, rate_limiter=RateLimiter(window_ms=10_000))
    state = tempfile.mkdtemp(prefix="rc-mcp-demo-")
    try:
        with serve(emulator) as running:
            env = {**running.env(demo.user_id, demo.token), STATE_DIR_VAR: state}
            _say(f"Demo workspace served at {running.url} (a built-in Rocket.Chat stand-in).")
            _say(f"Starting `{sys.executable} -m rc_mcp` over stdio, as an MCP host would.\n")
            params = StdioServerParameters(command=sys.executable, args=["-m", "rc_mcp"], env=env)
            async with Client(params) as client:
                tools = (await client.list_tools()).tools
                _say("Tools: " + ", ".join(t.name for t in tools) + " (all read-only)")
                await _call(client, "Which rooms am I in, and where is something new?", "list_rooms", {})
                everything = {"since": DEMO_START, "max_items": 12}
                page = await _call(
                    client, "What did I miss everywhere? (mentions and DMs first)", "catch_up", everything
                )
                if page and page.get("continuation"):
                    await _call(client, "Follow the 'more:' line", "catch_up", page["continuation"])
                since = {"room_id": demo.general, "last_update": DEMO_START}
                await _call(client, "What changed in #general since the morning?", "sync_messages", since)
                await _call(client, "What was deleted there?", "list_deleted", since)
                page = {"room_id": demo.dev, "next": "0", "count": 8}
                first = await _call(client, "Read #dev from its beginning, 8 at a time", "sync_messages", page)
                if first and first.get("continuation"):
                    await _call(client, "Follow the 'more:' line", "sync_messages", first["continuation"])
                support = {"room_id": "#support-escalations", "checkpoint": "demo"}
                await _call(
                    client,
                    "Catch up on a room by name, keeping a checkpoint",
                    "catch_up",
                    {**support, "since": DEMO_START},
                )
                _change_support_room(ws, demo.support)
                await _call(client, "Catch up again: only what changed since the last look", "catch_up", support)
                bad = {**since, "next": "0"}
                await _call(client, "A bad call: last_update together with a cursor", "sync_messages", bad)
                secret = {"room_id": demo.secret, "last_update": DEMO_START}
                await _call(client, "A private room the agent is not a member of", "sync_messages", secret)
                found = {"query": "502s", "count": 5}
                await _call(client, "Search what rc-mcp has seen, deleted messages included", "search_history", found)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    _say(_RULE)
    _say(
        f"Use it with your own server: set {URL_VAR}, {USER_ID_VAR} and {TOKEN_VAR} "
        "and run `rc-mcp` from your MCP client (see the README)."
    )


def _change_support_room(ws: Workspace, room: str) -> None:
    messages = {m["u"]["username"]: m["_id"] for m in ws.find_updates(room)}
    ws.edit(messages["bob"], "Looking. Health checks fail on eu-2 and eu-3; rolling back the LB config now")
    ws.delete(messages["alice"])
    ws.post(room, "alice", "Rollback done, the 502s are gone. Thanks Bob!")
    _say(_RULE)
    _say("# Meanwhile in the room: bob edits his message; alice deletes hers and posts a new one.")


async def _call(client: Client, why: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    _say(_RULE)
    _say(f"# {why}")
    _say(f">>> {tool} {json.dumps(arguments, ensure_ascii=False)}")
    result = await client.call_tool(tool, arguments)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    _say(("[error result] " if result.is_error else "") + text + "\n")
    structured: dict[str, Any] | None = result.structured_content
    return structured


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
