"""A bad local history never stops the server: it starts and answers, says once why history is off
or was started afresh, and never deletes the user's file. The first case runs the real process; the
others run the same server in memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from mcp import Client

from rc_mcp.emulator import Emulator, demo_workspace
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.server import build_server
from rc_mcp.store import FILE_NAME
from rc_mcp.testing import demo_emulator
from tests.conftest import settings_for, text_of

pytestmark = pytest.mark.anyio
CALL = {"room_id": "GENERAL", "last_update": DEMO_START}


def notes(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("note: ")]


async def test_a_corrupt_file_is_moved_aside_and_history_starts_afresh() -> None:
    with demo_emulator() as session:
        (session.state_dir / FILE_NAME).write_bytes(b"this is not a database" * 100)
        async with Client(session.server_params()) as client:
            first = await client.call_tool("sync_messages", CALL)
            second = await client.call_tool("sync_messages", CALL)
        kept = sorted(p.name for p in session.state_dir.iterdir())
    assert first.is_error is False and second.is_error is False
    (note,) = notes(text_of(first))
    assert "is not a SQLite database" in note and "moved aside" in note
    assert notes(text_of(second)) == []  # said once
    assert any(name.startswith(f"{FILE_NAME}.corrupt-") for name in kept) and FILE_NAME in kept


def in_memory(state_dir: Path) -> Client:
    demo = demo_workspace()
    settings = settings_for("http://rc.test", demo.user_id, demo.token, ROCKETCHAT_MCP_STATE_DIR=str(state_dir))
    return Client(build_server(settings, transport=httpx.ASGITransport(app=Emulator(demo.workspace).app)))


async def test_a_newer_schema_turns_history_off_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    async with in_memory(tmp_path) as client:
        page = await client.call_tool("sync_messages", CALL)
        refused = await client.call_tool("catch_up", {"room_id": "GENERAL"})
    after = path.read_bytes()
    assert page.is_error is False and "schema version 99" in " ".join(notes(text_of(page)))
    assert refused.is_error is True and "needs the local history" in text_of(refused)
    assert before == after


async def test_a_state_dir_that_is_a_file_turns_history_off(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    async with in_memory(blocker) as client:
        page = await client.call_tool("sync_messages", CALL)
    assert page.is_error is False and "not a directory" in " ".join(notes(text_of(page)))
