"""Scripted agent tests: the real ``rc-mcp`` process over stdio, driven by the MCP client, against
the emulator on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from starlette.applications import Starlette

from rc_mcp.emulator import RateLimiter
from rc_mcp.emulator.runner import serve_app
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import EmulatorSession, demo_emulator

pytestmark = pytest.mark.anyio

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


# --- one test per tool over the real process and transport ---------------------------------------


async def test_tools_are_listed_over_stdio(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == ["list_rooms", "catch_up", "sync_messages", "list_deleted", "search_history"]
    prompts = (await client.list_prompts()).prompts
    assert {p.name for p in prompts} == {"catch_up", "audit_deletions", "what_did_i_miss"}


async def test_sync_messages_pages_until_the_end(client: Client, session: EmulatorSession) -> None:
    arguments: dict[str, Any] | None = {"room_id": session.demo.dev, "next": "0", "count": 20}
    seen: list[str] = []
    calls = 0
    while arguments is not None:
        result = await client.call_tool("sync_messages", arguments)
        assert result.is_error is False, text_of(result)
        data = result.structured_content or {}
        seen.extend(m["id"] for m in data["messages"])
        arguments = data.get("continuation")
        if arguments is not None:
            assert text_of(result).splitlines()[-1] == "more: call sync_messages " + json.dumps(
                arguments, separators=(",", ":")
            )
        calls += 1
    expected = [d["_id"] for d in session.workspace.find_updates(session.demo.dev)]
    assert seen == expected and calls == 3


async def test_list_deleted_over_stdio(client: Client, session: EmulatorSession) -> None:
    by_time = await client.call_tool("list_deleted", {"room_id": session.demo.dev, "last_update": DEMO_START})
    expected = {d["_id"] for d in session.workspace.find_deleted(session.demo.dev)}
    assert {d["id"] for d in (by_time.structured_content or {})["deleted"]} == expected
    assert " deleted" in text_of(by_time)


async def test_catch_up_over_stdio(client: Client) -> None:
    result = await client.call_tool("catch_up", {"room_id": "#general", "since": DEMO_START})
    assert result.is_error is False, text_of(result)
    assert (result.structured_content or {})["caught_up"] is True
    assert text_of(result).splitlines()[-1].startswith("end: caught up to ")


async def test_legacy_handshake_host(session: EmulatorSession) -> None:
    async with stdio_client(session.server_params()) as (read, write), ClientSession(read, write) as mcp:
        init = await mcp.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.server_info.name == "rc-mcp"
        result = await mcp.call_tool("list_deleted", {"room_id": "GENERAL", "last_update": DEMO_START})
        assert result.is_error is False and len((result.structured_content or {})["deleted"]) == 1


# --- every error class, each with its own server -----------------------------------------------


async def call_once(params: StdioServerParameters, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with Client(params) as connected:
        result = await connected.call_tool("sync_messages", arguments)
    return bool(result.is_error), text_of(result)


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
