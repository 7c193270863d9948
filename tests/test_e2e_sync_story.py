"""Scripted agent tests for incremental sync: the real rc-mcp over stdio against the emulator.

Lossless cursors through same-millisecond bursts (both tools, both directions), a catch-up through
the rate limiter with no error, checkpoints across a server restart, a deletion recalled with its
text and an edit shown with its diff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from rc_mcp.emulator import RateLimiter
from rc_mcp.emulator.seed import DEMO_START
from rc_mcp.testing import EmulatorSession, demo_emulator
from tests.conftest import SYNC_PATH

pytestmark = pytest.mark.anyio

BASE = 1_795_200_000_000  # 2026-11-20T18:40:00Z, after everything in the demo workspace


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def burst_room(session: EmulatorSession) -> tuple[str, list[str], list[str]]:
    """A room where many changes share milliseconds, at page edges for any small page size."""
    ws = session.workspace
    room = ws.add_room("bursts", members=["mcp-agent"]).id
    stamps = [BASE + 1] * 6 + [BASE + 2] + [BASE + 3] * 11 + [BASE + 4] * 3
    posted = [ws.post(room, "alice", f"burst {i}", at=at) for i, at in enumerate(stamps)]
    deleted = posted[::2]
    for i, msg in enumerate(deleted):
        ws.delete(msg, at=BASE + 100 + i // 4)  # four deletions per millisecond
    return room, [m for m in posted if m not in deleted], deleted


async def follow(client: Client, tool: str, arguments: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for _ in range(100):
        result = await client.call_tool(tool, arguments)
        assert result.is_error is False, text_of(result)
        data = result.structured_content or {}
        seen.extend(item["id"] for item in data["messages"] + data["deleted"])
        if data["continuation"] is None:
            return seen
        assert text_of(result).splitlines()[-1].endswith(json.dumps(data["continuation"], separators=(",", ":")))
        arguments = data["continuation"]
    raise AssertionError("never ended")


async def test_following_cursors_is_lossless_for_both_tools_and_directions() -> None:
    count = 3  # other page sizes are covered in process (tests/test_streams.py)
    with demo_emulator() as session:
        room, kept, deleted = burst_room(session)
        async with Client(session.server_params()) as client:
            for tool, expected in (("sync_messages", kept), ("list_deleted", deleted)):
                forward = await follow(client, tool, {"room_id": room, "next": str(BASE), "count": count})
                backward = await follow(client, tool, {"room_id": room, "previous": str(BASE + 10_000), "count": count})
                for seen in (forward, backward):
                    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen)), tool


async def test_catch_up_through_the_rate_limiter_without_error() -> None:
    # One sync request per window, and a catch-up that needs two in one call (the updates, then
    # the trash): the second finds the window used up and must be paced. The two are back to back
    # (a page of 300 messages apart, tens of milliseconds, against a 1.5 s window), so the limiter
    # engages even on a loaded machine; the real wait is the rest of the window plus a second of
    # margin for the Date header's whole seconds, once. Longer catch-ups under the limiter, with
    # continuations, run on a controlled clock in tests/test_catch_up.py.
    limiter = RateLimiter(calls=1, window_ms=1500)
    with demo_emulator(rate_limit=limiter) as session:
        ws = session.workspace
        posted = [ws.post("GENERAL", "bob", f"status {i}", at=BASE + i) for i in range(300)]
        removed = posted[::4]
        for i, msg in enumerate(removed):
            ws.delete(msg, at=BASE + 10_000 + i)
        progress: list[str] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        shown: list[str] = []
        deleted: list[str] = []
        # A wait the window does not fit would end the call early (cut short) instead of waiting.
        async with Client(session.server_params(ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="5")) as client:
            arguments: dict[str, Any] | None = {
                "room_id": "#general",
                "since": "2026-11-20T18:00:00Z",
                "max_items": 1000,
                "max_chars": 200_000,
            }
            calls = 0
            while arguments is not None:
                result = await client.call_tool("catch_up", arguments, progress_callback=on_progress)
                text = text_of(result)
                assert result.is_error is False, text
                assert "too many requests" not in text.lower(), text
                data = result.structured_content or {}
                assert data["cut_short"] is None, text
                shown.extend(m["id"] for m in data["messages"])
                deleted.extend(d["id"] for d in data["deleted"])
                arguments = data["continuation"]
                calls += 1
                assert calls < 10
        # Every message shown once: what stands as a message, what was removed as a deletion.
        assert sorted(shown) == sorted(m for m in posted if m not in removed)
        assert sorted(deleted) == sorted(removed)
        # Counts and content, never durations: more requests than one window allows, none refused,
        # and the host was told about the wait while it happened.
        assert len(session.emulator.requests_to(SYNC_PATH)) > limiter.calls
        assert limiter.rejected == 0
        assert any("waiting for the rate-limit window to reset" in message for message in progress), progress


async def test_checkpoint_survives_a_server_restart_and_shows_edits_and_deletions() -> None:
    with demo_emulator() as session:
        ws = session.workspace
        support = session.demo.support
        first_msgs = {m["u"]["username"]: m["_id"] for m in ws.find_updates(support)}
        args = {"room_id": "#support-escalations", "checkpoint": "story"}
        async with Client(session.server_params()) as client:
            first = await client.call_tool("catch_up", {**args, "since": DEMO_START})
        assert (first.structured_content or {})["caught_up"] is True
        assert set(first_msgs.values()) <= {m["id"] for m in (first.structured_content or {})["messages"]}

        ws.edit(first_msgs["bob"], "Looking. Health checks fail on eu-2 and eu-3", at=BASE + 1)
        ws.delete(first_msgs["alice"], at=BASE + 2)
        fresh = ws.post(support, "alice", "Rollback done", at=BASE + 3)

        async with Client(session.server_params()) as restarted:  # a new rc-mcp process, same state dir
            second = await restarted.call_tool("catch_up", args)
        data = second.structured_content or {}
        text = text_of(second)
        assert {m["id"] for m in data["messages"]} == {first_msgs["bob"], fresh}
        edit = next(m for m in data["messages"] if m["id"] == first_msgs["bob"])
        assert edit["change"]["kinds"] == ["edited"]
        assert '[edited 18:40:00: "Load balancer health" → "Health", "are failing" → "fail", +"and eu-3"]' in text
        (gone,) = data["deleted"]
        assert gone["id"] == first_msgs["alice"] and gone["recalled"]["text"].startswith("Customer ACME")
        assert "recalled from local history: 2026-11-20 09:12:00 alice: Customer ACME reports 502s" in text
        assert data["caught_up"] is True and text.splitlines()[-1].startswith("end: caught up to ")


async def test_list_deleted_says_when_a_message_was_never_seen() -> None:
    with demo_emulator() as session:
        async with Client(session.server_params()) as client:
            result = await client.call_tool("list_deleted", {"room_id": "GENERAL", "last_update": DEMO_START})
    assert "never seen by rc-mcp, so only its id and deletion time are known" in text_of(result)


async def test_store_off_keeps_no_history() -> None:
    with demo_emulator() as session:
        async with Client(session.server_params(ROCKETCHAT_MCP_STORE="off")) as client:
            plain = await client.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
            refused = await client.call_tool("catch_up", {"room_id": "GENERAL"})
        assert list(session.state_dir.iterdir()) == []
    assert plain.is_error is False and all("change" not in m for m in (plain.structured_content or {})["messages"])
    assert refused.is_error is True and "needs the local history" in text_of(refused)
