"""Server and network faults over real HTTP (the emulator's fault layer on a loopback port): each
gives a clear error or a partial result with a continuation within the call deadline, the next
call works, and no checkpoint moves past data that was not shown. The last test drives the real
rc-mcp process through every fault in a row: it stays alive and keeps answering."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from rc_mcp.emulator import Emulator, serve
from rc_mcp.emulator.faults import Fault
from rc_mcp.emulator.runner import RunningEmulator
from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.errors import RocketChatError
from rc_mcp.history import History
from rc_mcp.render import render
from rc_mcp.rules import CatchUpArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, MessageStore
from rc_mcp.testing import demo_emulator
from tests.conftest import SYNC_PATH, T0, bare_workspace, settings_for, text_of

pytestmark = pytest.mark.anyio
SINCE = iso_ms(T0)
ROOMS_INFO = "/api/v1/rooms.info"


@dataclass
class Served:
    running: RunningEmulator
    state: Path

    @property
    def faults(self) -> Any:
        return self.running.emulator.faults

    def session(self, **env: str) -> Session:
        settings = settings_for(self.running.url, **env)
        store = MessageStore(self.state / FILE_NAME, settings.account, max_messages=10_000, max_age_days=30)
        return Session(settings, history=History(store))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    ws, room = bare_workspace()
    ws.post(room, "admin", "first", at=T0 + 1)
    ws.post(room, "admin", "second", at=T0 + 2)
    with serve(Emulator(ws)) as running:
        yield Served(running, tmp_path)


async def sync(session: Session) -> Any:
    return await session.sync_messages(parse(UpdatedArguments, {"room_id": "ROOM", "last_update": SINCE}))


FAULTS: list[tuple[Fault, dict[str, str], str]] = [
    (Fault.http_500_json(), {}, "HTTP 500"),
    (Fault.http_502_html(), {}, "HTTP 502 with a non-JSON body"),
    (Fault.http_503(retry_after=120), {}, "HTTP 503"),
    (Fault.reset(after_bytes=10), {}, "Could not reach Rocket.Chat"),
    (Fault.reset(hard=True), {}, "Could not reach Rocket.Chat"),
    (Fault.never_respond(), {"ROCKETCHAT_TIMEOUT": "0.5"}, "did not answer within 0.5 s"),
    (Fault.trickle(interval=0.05), {"ROCKETCHAT_MCP_CALL_DEADLINE": "2"}, "did not finish answering in time"),
    (Fault.huge_body(megabytes=8), {"ROCKETCHAT_MCP_MAX_RESPONSE_MB": "1"}, "larger than 1 MB"),
    (Fault.gzip_bomb(megabytes=64), {"ROCKETCHAT_MCP_MAX_RESPONSE_MB": "1"}, "larger than 1 MB"),
    (Fault.invalid_utf8(), {}, "non-JSON body"),
    (Fault.failure_html(), {}, "Rocket.Chat rejected the request"),
    (Fault.wrong_shape("updated_not_list"), {}, "malformed 'updated' list"),
]


@pytest.mark.parametrize(("fault", "env", "says"), FAULTS, ids=[f[0].name for f in FAULTS])
async def test_a_fault_is_one_clear_error_and_the_next_call_works(
    served: Served, fault: Fault, env: dict[str, str], says: str
) -> None:
    async with served.session(**env) as session:
        await session.room("ROOM")  # the room lookup is not what this test is about
        served.faults.arm(SYNC_PATH, fault)
        with pytest.raises(RocketChatError) as raised:
            await sync(session)
        message = str(raised.value)
        assert says in message and "\n" not in message.strip() and "<html" not in message.lower()
        page = await sync(session)
    assert [m.text for m in page.messages] == ["first", "second"]


@pytest.mark.parametrize("kind", ["ts_integer", "updated_at_integer", "date_object_huge", "missing_id", "year_9999"])
async def test_wrong_shaped_messages_are_counted_and_left_out(served: Served, kind: Any) -> None:
    served.faults.arm(SYNC_PATH, Fault.wrong_shape(kind))
    async with served.session() as session:
        page = await sync(session)
    assert page.notes and "left out" in page.notes[0]
    assert "note: 1 item from the server" in render(page)


async def test_a_redirect_to_another_host_is_not_followed(served: Served) -> None:
    other = Emulator(bare_workspace()[0])
    with serve(other) as elsewhere:
        served.faults.arm(SYNC_PATH, Fault.redirect(307, port=elsewhere.port))
        async with served.session() as session:
            await session.room("ROOM")
            with pytest.raises(RocketChatError, match=f"a redirect to 127.0.0.1:{elsewhere.port}"):
                await sync(session)
    assert other.requests == []  # the token never went there


async def test_a_hostile_room_info_cannot_forge_lines(served: Served) -> None:
    served.faults.arm(ROOMS_INFO, Fault.hostile_room_info(room_id="ROOM"))
    async with served.session() as session:
        page = await sync(session)
    lines = render(page).splitlines()
    assert len(lines) == 5 and sum(line.startswith(("end:", "more:")) for line in lines) == 1  # 2 messages


async def test_an_endless_429_answers_within_the_deadline(served: Served) -> None:
    served.faults.arm(SYNC_PATH, Fault.too_many_requests(), times=None)
    async with served.session(ROCKETCHAT_MCP_CALL_DEADLINE="10", ROCKETCHAT_MCP_MAX_RATE_LIMIT_WAIT="0.5") as session:
        await session.room("ROOM")
        with pytest.raises(RocketChatError, match=r"HTTP 429|rate-limit"):
            await sync(session)
    assert len(served.running.emulator.requests_to(SYNC_PATH)) == 1


async def test_a_fault_in_the_middle_of_a_catch_up_moves_no_checkpoint(served: Served) -> None:
    async with served.session() as session:
        look = parse(CatchUpArguments, {"room_id": "ROOM", "since": SINCE})
        served.faults.script(SYNC_PATH, [Fault.passthrough(), Fault.http_500_json()])  # updates read, trash fails
        with pytest.raises(RocketChatError, match="HTTP 500"):
            await session.catch_up(look)
        store = session.history.store
        assert store is not None and store.checkpoint("ROOM", "default") is None
        result = await session.catch_up(look)  # the same first look again: nothing was lost
    assert [m.text for m in result.messages] == ["first", "second"] and result.caught_up


async def test_the_process_survives_every_fault_in_a_row() -> None:
    with demo_emulator() as session:
        faults = session.emulator.faults
        env = {"ROCKETCHAT_TIMEOUT": "0.5", "ROCKETCHAT_MCP_CALL_DEADLINE": "3", "ROCKETCHAT_MCP_MAX_RESPONSE_MB": "1"}
        async with Client(session.server_params(**env)) as client:
            arguments = {"room_id": "GENERAL", "last_update": "2026-11-20T09:00:00Z"}
            assert (await client.call_tool("sync_messages", arguments)).is_error is False
            for fault, _, says in FAULTS:
                faults.arm(SYNC_PATH, fault)
                failed = await client.call_tool("sync_messages", arguments)
                assert failed.is_error is True and says in text_of(failed), (fault.name, text_of(failed))
                ok = await client.call_tool("sync_messages", arguments)
                assert ok.is_error is False, (fault.name, text_of(ok))
