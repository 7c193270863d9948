"""Scripted agent tests: the real ``rc-mcp`` process over stdio, driven by the MCP client, against
the emulator on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from rc_mcp.emulator import RateLimiter
from rc_mcp.emulator.runner import serve_app
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import EmulatorSession, demo_emulator

pytestmark = pytest.mark.anyio

GOLDEN_TOOLS = Path(__file__).parent / "golden" / "tools.json"
SYNC_PATH = "/api/v1/chat.syncMessages"
NO_STORE = {"ROCKETCHAT_MCP_STORE": "off"}  # servers started by hand keep no history in $HOME


@pytest.fixture(scope="module")
def session() -> Iterator[EmulatorSession]:
    with demo_emulator() as running:
        yield running


@pytest.fixture(scope="module")
async def client(session: EmulatorSession) -> AsyncIterator[Client]:
    async with Client(session.server_params()) as connected:
        yield connected


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def sync_request_count(session: EmulatorSession) -> int:
    return len(session.emulator.requests_to(SYNC_PATH))


# --- discovery ------------------------------------------------------------------------------


async def test_tools_schemas_and_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"sync_messages", "list_deleted", "catch_up"}
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        props = tool.input_schema["properties"]
        expected = {"room_id", "last_update", "next", "previous", "count", "offset", "sort", "max_chars"}
        if tool.name == "catch_up":
            expected = {"room_id", "checkpoint", "since", "max_items", "max_chars"}
        assert set(props) == expected
        assert tool.input_schema["required"] == ["room_id"]
        assert all(props[name].get("description") for name in props)
        out = tool.output_schema
        assert out is not None
        for field in ("messages", "deleted", "next_cursor", "previous_cursor", "continuation"):
            assert field in out["properties"]
    snapshot = {
        name: {
            "title": t.title,
            "description": t.description,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None,
            "inputSchema": t.input_schema,
            "outputSchema": t.output_schema,
        }
        for name, t in sorted(tools.items())
    }
    rendered = json.dumps(snapshot, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("RC_MCP_UPDATE_GOLDEN") == "1":
        GOLDEN_TOOLS.write_text(rendered, encoding="utf-8")
    assert rendered == GOLDEN_TOOLS.read_text(encoding="utf-8"), "tool definitions changed: review and regenerate"


async def test_prompts(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"catch_up", "audit_deletions"}
    assert [a.name for a in prompts["catch_up"].arguments or []] == ["room_id", "since"]
    got = await client.get_prompt("catch_up", {"room_id": "GENERAL"})
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "room GENERAL" in text and "not given" in text and "call `catch_up`" in text


# --- the tools --------------------------------------------------------------------------------


async def test_catch_up_with_last_update(client: Client, session: EmulatorSession) -> None:
    result = await client.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
    assert result.is_error is False
    data = result.structured_content
    assert data is not None
    expected = [d["_id"] for d in session.workspace.find_updates("GENERAL", sort_key="ts")]
    assert [m["id"] for m in data["messages"]] == expected
    first = data["messages"][1]
    assert first["author"] == "alice" and first["ts"] == "2026-11-20T09:02:00.000Z"
    assert data["next_cursor"] is None and data["continuation"] is None
    text = text_of(result)
    assert all(msg_id in text for msg_id in expected)
    assert text.splitlines()[-1].startswith("end: up to date.")


async def test_paging_with_cursors_until_the_end(client: Client, session: EmulatorSession) -> None:
    arguments: dict[str, Any] | None = {"room_id": session.demo.dev, "next": "0", "count": 20}
    seen: list[str] = []
    calls = 0
    while arguments is not None:
        result = await client.call_tool("sync_messages", arguments)
        assert result.is_error is False, text_of(result)
        data = result.structured_content or {}
        seen.extend(m["id"] for m in data["messages"])
        arguments = data["continuation"]
        if arguments is not None:
            assert text_of(result).splitlines()[-1] == "more: call sync_messages " + json.dumps(
                arguments, separators=(",", ":")
            )
        calls += 1
    expected = [d["_id"] for d in session.workspace.find_updates(session.demo.dev)]
    assert seen == expected and calls == 3


async def test_list_deleted_both_modes(client: Client, session: EmulatorSession) -> None:
    by_time = await client.call_tool("list_deleted", {"room_id": session.demo.dev, "last_update": DEMO_START})
    by_cursor = await client.call_tool("list_deleted", {"room_id": session.demo.dev, "next": "0", "count": 2})
    expected = {d["_id"] for d in session.workspace.find_deleted(session.demo.dev)}
    assert {d["id"] for d in (by_time.structured_content or {})["deleted"]} == expected
    # The demo's #dev deletions all share one millisecond, so count=2 still returns them whole.
    page = by_cursor.structured_content or {}
    assert {d["id"] for d in page["deleted"]} == expected and page["next_cursor"] is None
    assert " deleted" in text_of(by_time)


VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"room_id": ""}, "room_id is required"),
    ({"room_id": "GENERAL"}, "one of last_update, next or previous is required"),
    (
        {"room_id": "GENERAL", "last_update": DEMO_START, "next": "0"},
        "last_update cannot be combined with next",
    ),
    ({"room_id": "GENERAL", "last_update": DEMO_START, "previous": "9"}, "cannot be combined with previous"),
    ({"room_id": "GENERAL", "next": "0", "previous": "9"}, "next and previous cannot be sent together"),
    ({"room_id": "GENERAL", "last_update": "not-a-date"}, "not a valid ISO-8601 date-time"),
    ({"room_id": "GENERAL", "last_update": "1795165200000"}, "looks like a millisecond cursor"),
    ({"room_id": "GENERAL", "next": "soon"}, "is not a cursor"),
    ({"room_id": "GENERAL", "previous": -1}, "is negative"),
    ({"room_id": "GENERAL", "next": "0", "count": 0}, "count=0 is out of range"),
    ({"room_id": "GENERAL", "next": "0", "count": 501}, "count=501 is out of range"),
    ({"room_id": "GENERAL", "next": "0", "offset": -2}, "offset=-2 is out of range"),
    ({"room_id": "GENERAL", "next": "0", "sort": {"msg": 1}}, "sort field 'msg' is not supported"),
    ({"room_id": "GENERAL", "next": "0", "sort": {"ts": 0}}, "send 1 (ascending) or -1"),
    ({"room_id": "GENERAL", "next": "0", "count": "many"}, "count"),
    ({"room_id": "GENERAL", "next": "0", "count": 2.5}, "count"),
    ({"next": "0"}, "room_id"),
]


@pytest.mark.parametrize("tool", ["sync_messages", "list_deleted"])
@pytest.mark.parametrize(("arguments", "message"), VIOLATIONS)
async def test_rule_violations_send_no_request(
    client: Client, session: EmulatorSession, tool: str, arguments: dict[str, Any], message: str
) -> None:
    if tool == "list_deleted" and "sort" in arguments:
        renamed = {("_deletedAt" if k == "ts" else k): v for k, v in arguments["sort"].items()}
        arguments = {**arguments, "sort": renamed}
    before = sync_request_count(session)
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert message in text_of(result)
    assert sync_request_count(session) == before


async def test_not_allowed_room(client: Client, session: EmulatorSession) -> None:
    result = await client.call_tool("sync_messages", {"room_id": session.demo.secret, "last_update": DEMO_START})
    assert result.is_error is True
    assert "Not allowed [error-not-allowed]" in text_of(result) and "member of private rooms" in text_of(result)


async def test_legacy_handshake_host(session: EmulatorSession) -> None:
    async with stdio_client(session.server_params()) as (read, write), ClientSession(read, write) as mcp:
        init = await mcp.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "rc-mcp"
        result = await mcp.call_tool("list_deleted", {"room_id": "GENERAL", "last_update": DEMO_START})
        assert result.is_error is False and len((result.structured_content or {})["deleted"]) == 1


async def test_no_request_ever_broke_the_rules(session: EmulatorSession, client: Client) -> None:
    """Runs last in this module: everything the tools sent during it obeyed the endpoint's rules."""
    await client.call_tool("sync_messages", {"room_id": "GENERAL", "next": "2026-11-20T09:05:00Z", "offset": 1,
                                             "sort": {"ts": -1}})  # fmt: skip
    requests = session.emulator.requests_to(SYNC_PATH)
    assert len(requests) > 5
    for request in requests:
        query = dict(request.query)
        assert "offset" not in query and "sort" not in query
        for key in ("next", "previous"):
            if key in query:
                assert query[key].isdigit() and query.get("type") in ("UPDATED", "DELETED")
        if "lastUpdate" in query:
            assert query["lastUpdate"].endswith("Z")


# --- every error class, each with its own server -----------------------------------------------


async def call_once(params: StdioServerParameters, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with Client(params) as connected:
        result = await connected.call_tool("sync_messages", arguments)
    return bool(result.is_error), text_of(result)


async def test_wrong_token_is_a_clear_401_and_never_echoed() -> None:
    with demo_emulator() as running, tempfile.TemporaryFile("w+") as errlog:
        params = running.server_params(ROCKETCHAT_AUTH_TOKEN="wrong-SECRET-token")
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            result = await mcp.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
        errlog.seek(0)
        stderr = errlog.read()
    text = text_of(result)
    assert result.is_error is True
    assert "HTTP 401" in text and "ROCKETCHAT_AUTH_TOKEN" in text
    assert "wrong-SECRET-token" not in text and "wrong-SECRET-token" not in stderr


async def test_rate_limited_names_the_wait_when_it_is_too_long_to_wait() -> None:
    with demo_emulator(rate_limit=RateLimiter(calls=1)) as running:
        async with Client(running.server_params(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="2")) as connected:
            ok = await connected.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
            refused = await connected.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
    assert ok.is_error is False
    assert refused.is_error is True
    assert "HTTP 429" in text_of(refused) and "Retry the same call in" in text_of(refused)


async def test_unreachable_server() -> None:
    with serve_app(Starlette()) as url:
        pass  # the port is closed again now
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rc_mcp"],
        env={"ROCKETCHAT_URL": url, "ROCKETCHAT_USER_ID": "u", "ROCKETCHAT_AUTH_TOKEN": "t", **NO_STORE},
    )
    is_error, text = await call_once(params, {"room_id": "GENERAL", "last_update": DEMO_START})
    assert is_error and "Could not reach Rocket.Chat" in text and "ROCKETCHAT_URL" in text


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (HTMLResponse("<html>Sign in</html>"), "non-JSON body"),
        (JSONResponse({"success": False, "error": "Internal server error"}, status_code=500), "HTTP 500"),
    ],
)
async def test_answers_that_are_not_rocket_chat(answer: Response, expected: str) -> None:
    async def endpoint(request: Request) -> Response:
        return answer

    app = Starlette(routes=[Route(SYNC_PATH, endpoint)])
    with serve_app(app) as url:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "rc_mcp"],
            env={"ROCKETCHAT_URL": url, "ROCKETCHAT_USER_ID": "u", "ROCKETCHAT_AUTH_TOKEN": "t", **NO_STORE},
        )
        is_error, text = await call_once(params, {"room_id": "GENERAL", "last_update": DEMO_START})
    assert is_error and expected in text


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "rc-mcp: configuration error: ROCKETCHAT_URL is not set: set it to"),
        ({"ROCKETCHAT_URL": "http://x"}, "ROCKETCHAT_USER_ID is not set"),
        (
            {"ROCKETCHAT_URL": "nope", "ROCKETCHAT_USER_ID": "u", "ROCKETCHAT_AUTH_TOKEN": "t", **NO_STORE},
            "is not an http(s) URL",
        ),
    ],
)
def test_bad_configuration_exits_with_one_line(env: dict[str, str], line: str) -> None:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
    done = subprocess.run(
        [sys.executable, "-m", "rc_mcp"], env={**clean_env, **env}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and line in done.stderr
