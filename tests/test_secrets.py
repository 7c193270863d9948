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

from rc_mcp.emulator.faults import Fault
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import demo_emulator
from tests.conftest import SYNC_PATH, text_of

pytestmark = pytest.mark.anyio

CANARY_TOKEN = "CANARY-TOKEN-7f3a9c"
CANARY_PASSWORD = "CANARY-PASSWORD-1b2e"


def leaks(haystack: str | bytes) -> list[str]:
    if isinstance(haystack, bytes):
        return [c for c in (CANARY_TOKEN, CANARY_PASSWORD) if c.encode() in haystack]
    return [c for c in (CANARY_TOKEN, CANARY_PASSWORD) if c in haystack]


# Each error path of a request, armed on chat.syncMessages once a normal call has resolved the room:
# (the fault, how many requests it answers (None: every one, until cleared), the tool, what its error says).
# The process runs with ROCKETCHAT_TIMEOUT=0.5 (never_respond) and a rate-limit wait shorter than the
# 429's 1 s window (the endless 429 stops at once instead of waiting and retrying).
FAULT_CALLS: list[tuple[Fault, int | None, str, str]] = [
    (Fault.reset(hard=True), 1, "sync_messages", "Could not reach Rocket.Chat"),
    (Fault.reset(after_bytes=10), 1, "list_deleted", "Could not reach Rocket.Chat"),
    (Fault.http_500_json(), 1, "catch_up", "HTTP 500"),
    (Fault.http_502_html(), 1, "sync_messages", "HTTP 502"),
    (Fault.never_respond(), 1, "sync_messages", "did not answer within 0.5 s"),
    (Fault.too_many_requests(), None, "sync_messages", "HTTP 429"),  # last: the window it leaves stays shut
]


def names_and_contents(state_dir: Path) -> list[tuple[str, bytes]]:
    """Every path under the state directory (relative, so the temporary directory's own name is not
    part of it), with the bytes of the files: SQLite's -wal/-journal files included."""
    return [
        (str(p.relative_to(state_dir)), p.read_bytes() if p.is_file() else b"") for p in sorted(state_dir.rglob("*"))
    ]


async def test_a_canary_token_appears_nowhere() -> None:
    with demo_emulator() as session, tempfile.TemporaryFile("w+") as errlog:
        canary = session.workspace.add_user("canary-bot", token=CANARY_TOKEN, roles=("user",))
        env = {
            **session.env,
            "ROCKETCHAT_USER_ID": canary.id,
            "ROCKETCHAT_AUTH_TOKEN": CANARY_TOKEN,
            "ROCKETCHAT_TIMEOUT": "0.5",
            "ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT": "0.5",
        }
        params = StdioServerParameters(command=sys.executable, args=["-m", "rc_mcp"], env=env)
        faults = session.emulator.faults
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
            failed: list[Any] = []
            for fault, times, tool, _ in FAULT_CALLS:
                faults.arm(SYNC_PATH, fault, times=times)
                # catch_up continues from the checkpoint the first catch_up left.
                arguments = {"room_id": "GENERAL"} | ({} if tool == "catch_up" else {"last_update": DEMO_START})
                failed.append(await mcp.call_tool(tool, arguments))
                faults.clear(SYNC_PATH)
        errlog.seek(0)
        stderr = errlog.read()
        paths = names_and_contents(session.state_dir)
        faulted = [r.fault for r in session.emulator.requests_to(SYNC_PATH) if r.fault]
    assert any(content for _, content in paths), "the local history was written"
    assert [(name, leaks(name), leaks(content)) for name, content in paths] == [(n, [], []) for n, _ in paths]
    assert [o.is_error for o in outputs] == [False, False, False, True, True]
    # Every fault was met, and each call failed the way it should: the error paths really ran.
    assert list(dict.fromkeys(faulted)) == [fault.name for fault, *_ in FAULT_CALLS]
    said = [(r.is_error, says in text_of(r)) for r, (*_, says) in zip(failed, FAULT_CALLS, strict=True)]
    assert said == [(True, True)] * len(FAULT_CALLS), [text_of(r) for r in failed]
    for output in outputs + failed:
        assert leaks(text_of(output)) == [] and leaks(repr(output.structured_content)) == []
        assert leaks(repr(output)) == []
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
