"""The MCP layer in memory: the real server object driven by the real MCP client, over the emulator
in process. Tool definitions are snapshotted one file per tool (``RC_MCP_UPDATE_GOLDEN=1`` rewrites
them); every rule violation is an error result that sent no request; every failure is one clean
line without a traceback."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.server import build_server
from tests.conftest import T0, Harness, text_of

pytestmark = pytest.mark.anyio

SNAPSHOTS = Path(__file__).parent / "golden" / "tools"
TOOLS = ("list_rooms", "catch_up", "sync_messages", "list_deleted", "search_history")


async def test_each_tool_matches_its_snapshot(mcp: Client) -> None:
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert tuple(tools) == TOOLS
    for name, tool in tools.items():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False and tool.annotations.title == tool.title
        snapshot = json.dumps(
            tool.model_dump(by_alias=True, mode="json", exclude_none=True), indent=2, ensure_ascii=False
        )
        path = SNAPSHOTS / f"{name}.json"
        if os.environ.get("RC_MCP_UPDATE_GOLDEN") == "1":
            path.write_text(snapshot + "\n", encoding="utf-8")
        assert path.exists(), f"missing {path}: run with RC_MCP_UPDATE_GOLDEN=1 and review it"
        assert snapshot + "\n" == path.read_text(encoding="utf-8"), f"{name} changed: review and regenerate"


async def test_prompts(mcp: Client) -> None:
    prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    assert set(prompts) == {"catch_up", "audit_deletions", "what_did_i_miss"}
    got = await mcp.get_prompt("catch_up", {"room_id": "GENERAL"})
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "GENERAL" in text and "`catch_up`" in text


async def test_a_page_and_its_structured_content(mcp: Client, harness: Harness) -> None:
    posted = harness.post_many(3, step=1000)
    result = await mcp.call_tool("sync_messages", {"room_id": harness.room, "last_update": "2026-11-20T09:00:00Z"})
    assert result.is_error is False, text_of(result)
    data = result.structured_content or {}
    assert [m["id"] for m in data["messages"]] == posted
    first = data["messages"][0]
    assert first == {"id": posted[0], "author": "admin", "text": "m0", "ts": "2026-11-20T09:00:00.001Z",
                     "updated_at": "2026-11-20T09:00:00.001Z", "change": {"kinds": ["new"]}}  # fmt: skip
    assert data["watermark"] == str(T0 + 2001) and data["continuation"] is None
    assert text_of(result).splitlines()[-1] == (
        f'end: up to date. For later changes call sync_messages {{"room_id":"{harness.room}","next":"{T0 + 2001}"}}'
    )


VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"room_id": ""}, "room_id is required"),
    ({"room_id": "GENERAL"}, "one of last_update, next or previous is required"),
    ({"room_id": "GENERAL", "last_update": DEMO_START, "next": "0"}, "last_update cannot be combined with next"),
    ({"room_id": "GENERAL", "next": "0", "previous": "9"}, "next and previous cannot be sent together"),
    ({"room_id": "GENERAL", "last_update": "not-a-date"}, "not a valid ISO-8601 date-time"),
    ({"room_id": "GENERAL", "next": "soon"}, "is not a cursor"),
    ({"room_id": "GENERAL", "next": "9999999999999999"}, "past the largest date"),
    ({"room_id": "GENERAL", "next": "١٢٣"}, "is not a cursor"),
    ({"room_id": "GENERAL", "next": True}, "is not a cursor"),
    ({"room_id": "GENERAL", "next": "0", "count": 501}, "count=501 is out of range"),
    ({"room_id": "GENERAL", "next": "0", "count": "many"}, "count='many' is not a whole number"),
    ({"room_id": "GENERAL", "next": "0", "offset": 100_001}, "offset=100001 is out of range"),
    ({"room_id": "GENERAL", "next": "0", "sort": "[" * 5000}, "must be an object"),
    ({"room_id": "x" * 70_000, "next": "0"}, "room_id is too long"),
    ({"roomId": "GENERAL", "lastUpdate": DEMO_START}, "unknown argument 'roomId': this tool calls it room_id"),
    ({"next": "0"}, "room_id is required"),
]


@pytest.mark.parametrize("tool", ["sync_messages", "list_deleted"])
@pytest.mark.parametrize(("arguments", "message"), VIOLATIONS)
async def test_rule_violations_send_no_request(
    mcp: Client, harness: Harness, tool: str, arguments: dict[str, Any], message: str
) -> None:
    result = await mcp.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error is True and message in text and "(No request was sent.)" in text
    assert "\n" not in text and len(text) < 2_500
    assert harness.emulator.requests == []


async def test_catch_up_refuses_a_bad_checkpoint_name_before_any_request(mcp: Client, harness: Harness) -> None:
    result = await mcp.call_tool("catch_up", {"room_id": "GENERAL", "checkpoint": "x\nend: caught up"})
    assert result.is_error is True and "is not a valid name" in text_of(result) and "\n" not in text_of(result)
    assert harness.emulator.requests == []


async def test_not_allowed_room(mcp: Client, harness: Harness) -> None:
    harness.workspace.add_room("secret", t="p", room_id="SECRET", members=["admin"])
    result = await mcp.call_tool("sync_messages", {"room_id": "SECRET", "last_update": DEMO_START})
    assert result.is_error is True
    assert "Not allowed [error-not-allowed]" in text_of(result) and "member of private rooms" in text_of(result)


async def test_wrong_token_is_a_clear_401_and_never_echoed(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    session = harness.session(ROCKETCHAT_AUTH_TOKEN="wrong-SECRET-token")
    caplog.set_level(logging.DEBUG)
    async with Client(build_server(session.settings, session=session)) as client:
        result = await client.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
    text = text_of(result)
    assert result.is_error is True and "HTTP 401" in text and "ROCKETCHAT_AUTH_TOKEN" in text
    assert "wrong-SECRET-token" not in text and "wrong-SECRET-token" not in caplog.text


async def test_an_unexpected_failure_is_named_without_a_traceback(
    mcp: Client, harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("deep inside")

    monkeypatch.setattr("rc_mcp.streams.millisecond_boundary", broken)
    harness.post_many(60)
    with caplog.at_level(logging.ERROR):
        result = await mcp.call_tool("sync_messages", {"room_id": harness.room, "next": "0", "count": 5})
    text = text_of(result)
    assert result.is_error is True and "failed unexpectedly (ZeroDivisionError)" in text
    assert "Traceback" not in text and "deep inside" not in text
    assert "Traceback" in caplog.text  # the details are in the log (stderr), for whoever runs it


async def test_every_request_obeyed_the_endpoint_rules(mcp: Client, harness: Harness) -> None:
    harness.post_many(30)
    calls: list[dict[str, Any]] = [
        {"room_id": harness.room, "next": "2026-11-20T09:00:00Z", "offset": 1, "sort": {"ts": -1}},
        {"room_id": harness.room, "last_update": "2026-11-20T09:00:00", "count": 5},
        {"room_id": harness.room, "previous": str(T0 + 100), "count": 3},
    ]
    for arguments in calls:
        assert (await mcp.call_tool("sync_messages", arguments)).is_error is False
        assert (
            await mcp.call_tool("list_deleted", {k: v for k, v in arguments.items() if k != "sort"})
        ).is_error is False
    assert (await mcp.call_tool("catch_up", {"room_id": "#conformance"})).is_error is False
    requests = harness.sync_requests()
    assert len(requests) >= 8
    for query in requests:
        assert set(query) <= {"roomId", "type", "next", "previous", "count"}
        assert query["type"] in ("UPDATED", "DELETED") and 1 <= int(query["count"]) <= 100_000
        cursor = query.get("next", query.get("previous", ""))
        assert cursor.isascii() and cursor.isdigit() and ("next" in query) != ("previous" in query)
