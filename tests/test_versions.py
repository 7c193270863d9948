"""Every Rocket.Chat the tools meet: before 7.1 (only lastUpdate), 7.1-8.7 and 8.8+ (typed router)
give the same results to the same calls, and no request or continuation asks an old server for what
it cannot answer."""

from __future__ import annotations

from typing import Any

import pytest

from rc_mcp.emulator import Emulator
from rc_mcp.emulator.faults import Fault
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.rules import CatchUpArguments, DeletedArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from tests.conftest import T0, Harness, ids

pytestmark = pytest.mark.anyio
VERSIONS = ["6.13.0", "7.0.4", "7.10.0", "8.8.1"]


def on_version(harness: Harness, version: str) -> None:
    harness.emulator = Emulator(harness.workspace, version=version)
    harness.transport = None


def busy_room(harness: Harness) -> tuple[list[str], list[str]]:
    """Same-millisecond bursts, an edit that reorders the trash, deletions in bursts."""
    ws = harness.workspace
    stamps = [T0 + 1] * 3 + [T0 + 2] + [T0 + 3] * 5 + [T0 + 4] * 2
    posted = [ws.post(harness.room, "admin", f"m{i}", at=at) for i, at in enumerate(stamps)]
    gone = posted[::3]
    ws.edit(gone[0], "edited late", at=T0 + 50)
    for i, msg in enumerate(gone):
        ws.delete(msg, at=T0 + 100 + i // 2)
    return [m for m in posted if m not in gone], gone


async def follow(session: Session, tool: str, arguments: dict[str, Any] | None) -> list[str]:
    seen: list[str] = []
    model = UpdatedArguments if tool == "sync_messages" else DeletedArguments
    calls = 0
    while arguments is not None:
        page = await (session.sync_messages if tool == "sync_messages" else session.list_deleted)(
            parse(model, arguments)
        )  # type: ignore[arg-type]
        seen.extend(ids(page))
        arguments = page.continuation
        calls += 1
        assert calls < 50
    return seen


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("start", [{"last_update": iso_ms(T0)}, {"next": "0"}, {"previous": str(T0 + 10_000)}])
async def test_same_results_on_every_version(harness: Harness, version: str, start: dict[str, Any]) -> None:
    on_version(harness, version)
    kept, gone = busy_room(harness)
    session = harness.session()
    updated = await follow(session, "sync_messages", {"room_id": harness.room, "count": 2, **start})
    deleted = await follow(session, "list_deleted", {"room_id": harness.room, "count": 2, **start})
    assert sorted(updated) == sorted(kept) and len(updated) == len(kept)
    assert sorted(deleted) == sorted(gone) and len(deleted) == len(gone)
    queries = harness.sync_requests()
    if version < "7.1":
        assert all(set(q) == {"roomId", "lastUpdate"} for q in queries), queries
    else:
        assert all("lastUpdate" not in q and q["type"] in ("UPDATED", "DELETED") for q in queries)


@pytest.mark.parametrize("version", VERSIONS)
async def test_catch_up_on_every_version(harness: Harness, version: str) -> None:
    on_version(harness, version)
    kept, gone = busy_room(harness)
    session = harness.session()
    look = await session.catch_up(parse(CatchUpArguments, {"room_id": harness.room, "since": iso_ms(T0)}))
    assert sorted(m.id for m in look.messages) == sorted(kept) and sorted(d.id for d in look.deleted) == sorted(gone)
    assert look.caught_up
    later = harness.workspace.post(harness.room, "admin", "later", at=T0 + 500)
    again = await session.catch_up(parse(CatchUpArguments, {"room_id": harness.room}))
    assert ids(again) == [later]


async def test_an_old_server_that_hides_its_version_is_recognised_by_its_answer(harness: Harness) -> None:
    on_version(harness, "6.13.0")
    harness.emulator.faults.arm("/api/info", Fault.http_502_html())
    kept, _ = busy_room(harness)
    session = harness.session()
    updated = await follow(session, "sync_messages", {"room_id": harness.room, "next": "0", "count": 50})
    assert sorted(updated) == sorted(kept)
    refused = [q for q in harness.sync_requests() if "lastUpdate" not in q]
    assert len(refused) == 1  # one cursor request was refused, then every request used lastUpdate
