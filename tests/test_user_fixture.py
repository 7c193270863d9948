"""The README's example of a user's scripted agent test, run as written."""

from __future__ import annotations

import pytest
from mcp import Client

from rc_mcp.testing import EmulatorSession


@pytest.mark.anyio
async def test_agent_sees_an_edit(rc_emulator: EmulatorSession) -> None:
    ws = rc_emulator.workspace
    msg = ws.post("GENERAL", "alice", "draft", at=1795170000000)
    ws.edit(msg, "final", at=1795170060000)
    async with Client(rc_emulator.server_params()) as client:
        result = await client.call_tool("sync_messages", {"room_id": "GENERAL", "next": "1795169999999"})
    assert "[edited" in result.content[0].text  # type: ignore[union-attr]
    assert f"{msg} alice [edited 10:21:00]: final" in result.content[0].text  # type: ignore[union-attr]
