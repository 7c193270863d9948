"""The tools' logic (rc_mcp.sync) against the emulator over real HTTP: windows, continuations,
lossless cursors through same-millisecond bursts, and the requests that reach the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from rc_mcp.client import RocketChatClient
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, serve
from rc_mcp.emulator.workspace import Workspace, iso_ms
from rc_mcp.models import RESULT_CHAR_BUDGET, SyncResult
from rc_mcp.sync import list_deleted, sync_messages
from tests.conftest import T0, bare_workspace

pytestmark = pytest.mark.anyio


class Env:
    def __init__(self, workspace: Workspace, room: str, emulator: Emulator, client: RocketChatClient) -> None:
        self.workspace, self.room, self.emulator, self.client = workspace, room, emulator, client

    def sync_requests(self) -> list[dict[str, str]]:
        return [dict(r.query) for r in self.emulator.requests_to("/api/v1/chat.syncMessages")]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    ws, room = bare_workspace()
    emulator = Emulator(ws)
    with serve(emulator) as running:
        settings = Settings.from_env(
            {
                "ROCKETCHAT_URL": running.url,
                "ROCKETCHAT_USER_ID": "USER",
                "ROCKETCHAT_AUTH_TOKEN": "user-token",
            }
        )
        async with RocketChatClient(settings) as client:
            yield Env(ws, room, emulator, client)


def ids(result: SyncResult) -> list[str]:
    return [m.id for m in result.messages] or [d.id for d in result.deleted]


async def follow(env: Env, tool: Any, arguments: dict[str, Any], limit: int = 200) -> tuple[list[str], int]:
    """Call, then keep calling with the continuation until there is none; all ids seen, calls made."""
    seen: list[str] = []
    calls = 0
    while arguments is not None and calls < limit:
        result = await tool(env.client, **arguments)
        calls += 1
        seen.extend(ids(result))
        arguments = result.continuation  # type: ignore[assignment]
    return seen, calls


async def test_last_update_window_offset_and_continuation(env: Env) -> None:
    posted = [env.workspace.post(env.room, "admin", f"m{i}", at=T0 + 1000 * (i + 1)) for i in range(7)]
    result = await sync_messages(env.client, room_id=env.room, last_update=iso_ms(T0), count=3)
    assert ids(result) == posted[:3]  # oldest first by default
    assert result.total == 7
    assert result.continuation == {"room_id": env.room, "last_update": iso_ms(T0), "offset": 3, "count": 3}
    seen, calls = await follow(env, sync_messages, {"room_id": env.room, "last_update": iso_ms(T0), "count": 3})
    assert seen == posted and calls == 3
    assert result.watermark == str(T0 + 7000)


async def test_last_update_sort(env: Env) -> None:
    a = env.workspace.post(env.room, "user", "a", at=T0 + 1)
    b = env.workspace.post(env.room, "admin", "b", at=T0 + 2)
    env.workspace.edit(a, "a2", at=T0 + 3)
    newest = await sync_messages(env.client, room_id=env.room, last_update=iso_ms(T0), sort={"ts": -1})
    assert ids(newest) == [b, a]
    by_change = await sync_messages(env.client, room_id=env.room, last_update=iso_ms(T0), sort={"_updatedAt": -1})
    assert ids(by_change) == [a, b]
    by_author = await sync_messages(env.client, room_id=env.room, last_update=iso_ms(T0), sort='{"u.username": 1}')
    assert ids(by_author) == [b, a]
    assert by_author.continuation is None


async def test_cursor_mode_reads_forward_and_backward(env: Env) -> None:
    posted = [env.workspace.post(env.room, "admin", f"m{i}", at=T0 + 10 * (i + 1)) for i in range(5)]
    first = await sync_messages(env.client, room_id=env.room, next="0", count=2)
    assert ids(first) == posted[:2]
    assert (first.next_cursor, first.previous_cursor) == (str(T0 + 20), str(T0 + 10))
    back = await sync_messages(env.client, room_id=env.room, previous=str(T0 + 1000), count=2)
    assert ids(back) == [posted[4], posted[3]]
    assert (back.next_cursor, back.previous_cursor) == (str(T0 + 50), str(T0 + 40))
    last = await sync_messages(env.client, room_id=env.room, next=str(T0 + 40), count=2)
    assert ids(last) == posted[4:] and last.next_cursor is None and last.continuation is None
    assert last.watermark == str(T0 + 50)


async def test_offset_and_sort_in_cursor_mode(env: Env) -> None:
    posted = [env.workspace.post(env.room, "admin", f"m{i}", at=T0 + 10 * (i + 1)) for i in range(6)]
    result = await sync_messages(env.client, room_id=env.room, next="0", count=2, offset=1, sort={"ts": -1})
    assert ids(result) == [posted[2], posted[1]]
    assert result.next_cursor == str(T0 + 30)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("direction", ["next", "previous"])
async def test_updated_cursors_are_lossless_through_bursts(env: Env, count: int, direction: str) -> None:
    ws = env.workspace
    stamps = [T0 + 1] * 4 + [T0 + 2] + [T0 + 3] * 9 + [T0 + 4] * 2 + [T0 + 5] * 3
    posted = [ws.post(env.room, "admin", f"m{i}", at=at) for i, at in enumerate(stamps)]
    start = "0" if direction == "next" else str(T0 + 10)
    seen, _ = await follow(env, sync_messages, {"room_id": env.room, direction: start, "count": count})
    assert sorted(seen) == sorted(posted) and len(seen) == len(posted)  # every message exactly once


@pytest.mark.parametrize("count", [1, 2, 4])
@pytest.mark.parametrize("direction", ["next", "previous"])
async def test_deleted_cursors_are_lossless_through_bursts_and_the_sort_quirk(
    env: Env, count: int, direction: str
) -> None:
    ws = env.workspace
    posted = [ws.post(env.room, "admin", f"m{i}", at=T0 + i) for i in range(12)]
    for i, msg in enumerate(posted):
        if i % 3 == 0:
            ws.edit(msg, "edited late", at=T0 + 500 - i)  # _updatedAt order differs from deletion order
    for i, msg in enumerate(posted):
        ws.delete(msg, at=T0 + 1000 + (i // 4))  # bursts of four deletions per millisecond
    start = "0" if direction == "next" else str(T0 + 5000)
    seen, _ = await follow(env, list_deleted, {"room_id": env.room, direction: start, "count": count})
    assert sorted(seen) == sorted(posted) and len(seen) == len(posted)


async def test_a_millisecond_larger_than_count_is_returned_whole(env: Env) -> None:
    posted = [env.workspace.post(env.room, "admin", f"m{i}", at=T0 + 7) for i in range(30)]
    result = await sync_messages(env.client, room_id=env.room, next="0", count=5)
    assert ids(result) == posted
    assert result.next_cursor is None


async def test_plain_server_cursors_would_lose_messages(env: Env) -> None:
    """The bug the lossless paging exists for, shown against the same emulator."""
    for i in range(3):
        env.workspace.post(env.room, "admin", f"m{i}", at=T0 + 5)
    page = await env.client.sync_messages(room_id=env.room, type="UPDATED", next=0, count=2)  # type: ignore[arg-type]
    assert page.cursor_next is not None
    rest = await env.client.sync_messages(room_id=env.room, type="UPDATED", next=int(page.cursor_next), count=2)  # type: ignore[arg-type]
    assert len(page.updated) + len(rest.updated) == 2  # one of three lost


async def test_result_size_is_bounded_with_a_continuation(env: Env) -> None:
    big = "word " * 300
    posted = [env.workspace.post(env.room, "admin", big, at=T0 + i + 1) for i in range(60)]
    result = await sync_messages(env.client, room_id=env.room, next="0", count=60)
    shown = len(result.messages)
    assert 1 <= shown < 60
    assert sum(len(m.text) for m in result.messages) <= RESULT_CHAR_BUDGET
    seen, _ = await follow(env, sync_messages, {"room_id": env.room, "next": "0", "count": 60})
    assert seen == posted


async def test_requests_never_carry_offset_sort_or_bare_cursors(env: Env) -> None:
    for i in range(5):
        env.workspace.post(env.room, "admin", f"m{i}", at=T0 + i + 1)
    await sync_messages(env.client, room_id=env.room, last_update="2026-11-20T09:00:00", offset=2, sort={"ts": -1})
    await sync_messages(env.client, room_id=env.room, next="2026-11-20T09:00:00Z", offset=1, sort={"ts": -1})
    await list_deleted(env.client, room_id=env.room, previous=str(T0 + 100), count=3, sort={"_id": 1})
    requests = env.sync_requests()
    assert len(requests) == 3
    for query in requests:
        assert "offset" not in query and "sort" not in query
        for key in ("next", "previous"):
            if key in query:
                assert query[key].isdigit() and query["type"] in ("UPDATED", "DELETED")
    assert requests[0]["lastUpdate"] == "2026-11-20T09:00:00.000Z"  # naive input sent as explicit UTC
    assert requests[1]["next"] == str(T0)  # ISO cursor converted, not sent raw
