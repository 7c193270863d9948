"""Secrets stay secret: a canary token and a canary URL password never appear in any tool output,
in stderr, or anywhere in the state directory — with the real rc-mcp process, over stdio."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import demo_emulator
from tests.conftest import text_of

pytestmark = pytest.mark.anyio

CANARY_TOKEN = "CANARY-TOKEN-7f3a9c"
CANARY_PASSWORD = "CANARY-PASSWORD-1b2e"


def leaks(haystack: str | bytes) -> list[str]:
    if isinstance(haystack, bytes):
        return [c for c in (CANARY_TOKEN, CANARY_PASSWORD) if c.encode() in haystack]
    return [c for c in (CANARY_TOKEN, CANARY_PASSWORD) if c in haystack]


async def test_a_canary_token_appears_nowhere() -> None:
    with demo_emulator() as session, tempfile.TemporaryFile("w+") as errlog:
        canary = session.workspace.add_user("canary-bot", token=CANARY_TOKEN, roles=("user",))
        env = {**session.env, "ROCKETCHAT_USER_ID": canary.id, "ROCKETCHAT_AUTH_TOKEN": CANARY_TOKEN}
        params = StdioServerParameters(command=sys.executable, args=["-m", "rc_mcp"], env=env)
        outputs: list[Any] = []
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            calls = [
                ("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START}),
                ("list_deleted", {"room_id": "#general", "next": "0"}),
                ("catch_up", {"room_id": "GENERAL", "since": DEMO_START}),
                ("sync_messages", {"room_id": session.demo.secret, "last_update": DEMO_START}),  # not allowed
                ("sync_messages", {"room_id": "GENERAL", "next": "soon"}),  # refused before any request
            ]
            for tool, arguments in calls:
                outputs.append(await mcp.call_tool(tool, arguments))
        errlog.seek(0)
        stderr = errlog.read()
        files = [p for p in session.state_dir.rglob("*") if p.is_file()]
        assert files, "the local history was written"
        assert all(leaks(p.read_bytes()) == [] for p in files)
    assert [o.is_error for o in outputs] == [False, False, False, True, True]
    for output in outputs:
        assert leaks(text_of(output)) == [] and leaks(repr(output.structured_content)) == []
    assert leaks(stderr) == []


async def test_a_rejected_canary_token_appears_nowhere() -> None:
    with demo_emulator() as session, tempfile.TemporaryFile("w+") as errlog:
        params = session.server_params(ROCKETCHAT_AUTH_TOKEN=CANARY_TOKEN)
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            result = await mcp.call_tool("catch_up", {"room_id": "#general"})
        errlog.seek(0)
        stderr = errlog.read()
        state = b"".join(p.read_bytes() for p in session.state_dir.rglob("*") if p.is_file())
    assert result.is_error is True and "HTTP 401" in text_of(result)
    assert leaks(text_of(result)) == [] and leaks(stderr) == [] and leaks(state) == []


def test_a_password_in_the_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
    env.update(
        ROCKETCHAT_URL=f"https://bot:{CANARY_PASSWORD}@chat.example.com",
        ROCKETCHAT_USER_ID="u",
        ROCKETCHAT_AUTH_TOKEN=CANARY_TOKEN,
        ROCKETCHAT_MCP_STATE_DIR=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-m", "rc_mcp"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "contains a user name or password" in done.stderr
    assert leaks(done.stderr) == [] and list(tmp_path.iterdir()) == []
