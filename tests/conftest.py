from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from rc_mcp.emulator import Emulator, RateLimiter, Workspace, serve
from rc_mcp.emulator.runner import RunningEmulator

pytest_plugins = ["rc_mcp.pytest_plugin"]

T0 = 1_795_165_200_000  # 2026-11-20T09:00:00Z


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    """A bare emulator (an admin, a plain user, one public channel) served on loopback."""

    running: RunningEmulator
    workspace: Workspace
    room: str
    admin: httpx.Client
    user: httpx.Client
    user_id: str

    @property
    def emulator(self) -> Emulator:
        return self.running.emulator


def bare_workspace() -> tuple[Workspace, str]:
    ws = Workspace(clock=lambda: T0 + 3_600_000)
    ws.add_user("admin", token="admin-token", roles=("admin",), user_id="ADMIN")
    ws.add_user("user", token="user-token", user_id="USER")
    room = ws.add_room("conformance", room_id="ROOM", at=T0 - 1000)
    return ws, room.id


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _server()


@pytest.fixture
def limited_server() -> Iterator[Server]:
    yield from _server(rate_limiter=RateLimiter(calls=3, window_ms=60_000))


def _server(**options: object) -> Iterator[Server]:
    ws, room = bare_workspace()
    emulator = Emulator(ws, **options)  # type: ignore[arg-type]
    with serve(emulator) as running:
        admin = httpx.Client(base_url=running.url, headers={"X-User-Id": "ADMIN", "X-Auth-Token": "admin-token"})
        user = httpx.Client(base_url=running.url, headers={"X-User-Id": "USER", "X-Auth-Token": "user-token"})
        with admin, user:
            yield Server(running, ws, room, admin, user, "USER")
