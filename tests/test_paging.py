"""The pager's limits, end to end over the emulator in process: the call's deadline counts from the
start of the call, pages with no usable row, and times the pager cannot page from."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp import Client

from rc_mcp.accounts import Accounts
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.render import render
from rc_mcp.rules import CatchUpArguments, parse
from rc_mcp.server import build_server
from rc_mcp.session import Session
from tests.conftest import SYNC_PATH, T0, Harness, ids, text_of

pytestmark = pytest.mark.anyio
SINCE = iso_ms(T0)
ROOMS_INFO = "/api/v1/rooms.info"
# Of the default 50 s call deadline, the room lookup takes this much: 8 s are left for the pager.
SLOW_LOOKUP_MS = 40_000
RESET_IN_MS = 15_000


def slow_lookup_then(harness: Harness, sync: Any) -> Any:
    """A mangler: rooms.info takes SLOW_LOOKUP_MS of the harness clock, ``sync`` rewrites sync answers."""

    def mangle(request: httpx.Request, body: Any) -> Any:
        if request.url.path == ROOMS_INFO:
            harness.clock.ms += SLOW_LOOKUP_MS
        if request.url.path == SYNC_PATH:
            return sync(body)
        return body

    return mangle


async def test_a_slow_room_lookup_leaves_less_time_to_wait_for_the_rate_limit(harness: Harness) -> None:
    """The window is used up after the updates; waiting for its reset fits 48 s from the pager's
    creation but not from the call's start, so the call pauses with what it read."""
    real = harness.workspace.post(harness.room, "admin", "real", at=T0 + 1)

    def used_up(body: Any) -> httpx.Response:
        reset = harness.clock.now_ms() + RESET_IN_MS
        headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return httpx.Response(200, json=body, headers=headers)

    harness.mangle(slow_lookup_then(harness, used_up))
    session = harness.session()
    started = harness.clock.now_ms()
    look = await session.catch_up(parse(CatchUpArguments, {"room_id": harness.room, "since": SINCE}))
    assert ids(look) == [real] and not look.caught_up
    assert look.cut_short == "rate_limit" and look.retry_after_seconds == 16
    assert "paused: Rocket.Chat's rate limit stopped this call early" in render(look)
    assert harness.clock.now_ms() - started <= session.settings.call_deadline * 1000


async def test_the_deadline_counts_from_the_start_of_the_tool_call(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over MCP, where opening the caller's session (its history, a credentials check) comes first:
    a 429 after a slow opening is the rate-limit answer with when to retry, not a wait that would
    overrun the call and end in a bare "did not finish"."""
    harness.post_many(3)
    opened = Accounts.session

    async def slow_open(self: Accounts, headers: Any) -> Session:
        harness.clock.ms += SLOW_LOOKUP_MS
        return await opened(self, headers)

    monkeypatch.setattr(Accounts, "session", slow_open)
    refused: list[bool] = []

    def refuse_once(request: httpx.Request, body: Any) -> Any:
        if request.url.path != SYNC_PATH or refused:
            return body
        refused.append(True)
        error = "Error, too many requests. You must wait 15 seconds before trying this endpoint again."
        return httpx.Response(429, json={"success": False, "error": f"{error} [error-too-many-requests]"})

    harness.mangle(refuse_once)
    session = harness.session()
    started = harness.clock.now_ms()
    async with Client(build_server(session.settings, session=session)) as client:
        result = await client.call_tool("sync_messages", {"room_id": harness.room, "last_update": SINCE})
    assert result.is_error is True and "Retry the same call in 15 s" in text_of(result)
    assert harness.clock.now_ms() - started <= session.settings.call_deadline * 1000
