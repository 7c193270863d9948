from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from rc_mcp.client import tls_context
from rc_mcp.config import Settings
from rc_mcp.emulator import Emulator, RateLimiter, Workspace, serve
from rc_mcp.emulator.runner import RunningEmulator
from rc_mcp.history import History
from rc_mcp.results import CatchUp, StreamPage
from rc_mcp.server import build_server
from rc_mcp.session import Session
from rc_mcp.store import FILE_NAME, MessageStore

pytest_plugins = ["rc_mcp.pytest_plugin"]

T0 = 1_795_165_200_000  # 2026-11-20T09:00:00Z
SYNC_PATH = "/api/v1/chat.syncMessages"


# Modules whose tests start a real rc-mcp process, a server on a real port, Node or a package build:
# the deliberate end-to-end set. `scripts/check -m "not process"` leaves them out for a quick loop.
PROCESS_MODULES = {
    "test_cli", "test_docs", "test_e2e_stdio", "test_e2e_sync_story", "test_emulator_faults", "test_faults",
    "test_http", "test_inspector", "test_packaging", "test_secrets", "test_store_at_start", "test_user_fixture",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in PROCESS_MODULES:
            item.add_marker(pytest.mark.process)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    """Time that moves only when someone sleeps: waits are instant and certain, never a race."""

    def __init__(self, now_ms: int) -> None:
        self.ms = now_ms
        self.slept = 0.0

    def now_ms(self) -> int:
        return self.ms

    async def sleep(self, seconds: float) -> None:
        self.ms += round(seconds * 1000)
        self.slept += seconds
        await anyio.lowlevel.checkpoint()


def settings_for(url: str, user_id: str = "USER", token: str = "user-token", **env: str) -> Settings:
    return Settings.from_env(
        {"ROCKETCHAT_URL": url, "ROCKETCHAT_USER_ID": user_id, "ROCKETCHAT_AUTH_TOKEN": token, **env}
    )


def bare_workspace(clock: Any = None) -> tuple[Workspace, str]:
    """An admin, a plain user and one public channel."""
    ws = Workspace(clock=clock or (lambda: T0 + 3_600_000))
    ws.add_user("admin", token="admin-token", roles=("admin",), user_id="ADMIN")
    ws.add_user("user", token="user-token", user_id="USER")
    room = ws.add_room("conformance", room_id="ROOM", at=T0 - 1000)
    return ws, room.id


# (request, parsed JSON body) → a new body, or a whole httpx.Response to send instead.
Mangle = Callable[[httpx.Request, Any], Any]


class CountingTransport(httpx.AsyncBaseTransport):
    """The emulator's ASGI app, counting the rows and bytes each chat.syncMessages answer carried.

    ``mangle`` (request, parsed JSON body) → new body turns an answer into what a broken or hostile
    server would send: the rest of the answer (status, headers) stays the emulator's.
    """

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.rows = 0
        self.bytes = 0
        self.mangle: Mangle | None = None
        # Every chat.syncMessages answer: (HTTP status, errorType or None).
        self.answers: list[tuple[int, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if self.mangle is not None:
            changed = self.mangle(request, json.loads(body))
            if isinstance(changed, httpx.Response):
                return changed
            body = json.dumps(changed).encode()
        if request.url.path == SYNC_PATH:
            self.bytes += len(body)
            parsed = json.loads(body)
            self.answers.append((response.status_code, parsed.get("errorType")))
            result = parsed.get("result") or {}
            if isinstance(result, dict):
                for key in ("updated", "deleted"):
                    self.rows += len(result.get(key) or []) if isinstance(result.get(key), list) else 0
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body)


@dataclass
class Harness:
    """The emulator in process (ASGI), a session on it as the plain user, and a controlled clock.

    Nothing here listens on a port or sleeps for real: the fast way to test the logic end to end
    through the real HTTP stack (httpx, the emulator's routes) and, with ``mcp()``, the MCP layer.
    """

    workspace: Workspace
    room: str
    emulator: Emulator
    clock: FakeClock
    state_dir: Path
    settings: Settings
    sessions: list[Session] = field(default_factory=list)
    transport: CountingTransport | None = None

    def mangle(self, how: Mangle) -> None:
        """Every answer from now on passes through ``how`` (see CountingTransport)."""
        self.transport = self.transport or CountingTransport(self.emulator.app)
        self.transport.mangle = how

    def session(self, *, history: bool = True, **env: str) -> Session:
        settings = settings_for("http://rc.test", **env) if env else self.settings
        store = (
            MessageStore(self.state_dir / FILE_NAME, settings.account, max_messages=100_000, max_age_days=3650)
            if history
            else None
        )
        self.transport = self.transport or CountingTransport(self.emulator.app)
        opened = Session(
            settings,
            transport=self.transport,
            history=History(store),
            clock=self.clock,
        )
        self.sessions.append(opened)
        return opened

    @property
    def rows_fetched(self) -> int:
        return self.transport.rows if self.transport else 0

    def sync_requests(self) -> list[dict[str, str]]:
        return [dict(r.query) for r in self.emulator.requests_to(SYNC_PATH)]

    def post_many(self, count: int, start: int = T0 + 1, step: int = 1, author: str = "admin") -> list[str]:
        return [self.workspace.post(self.room, author, f"m{i}", at=start + i * step) for i in range(count)]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FakeClock(T0 + 3_600_000)
    ws, room = bare_workspace(clock.now_ms)
    made = Harness(ws, room, Emulator(ws), clock, tmp_path, settings_for("http://rc.test"))
    yield made
    for session in made.sessions:
        await session.__aexit__(None, None, None)
        if session.history.store is not None:
            session.history.store.close()


def emulator_limiter(emulator: Emulator, calls: int | None, clock: FakeClock, window_ms: int = 60_000) -> None:
    """Rocket.Chat's rate limiter on the emulator, on the harness clock (None: no limit)."""
    emulator.rate_limiter = RateLimiter(calls=calls, window_ms=window_ms, clock=clock.now_ms) if calls else None


@pytest.fixture
async def mcp(harness: Harness) -> AsyncIterator[Client]:
    """An MCP client connected in memory to the real server, over the harness session."""
    session = harness.session()
    async with Client(build_server(harness.settings, session=session)) as client:
        yield client


def ids(result: StreamPage | CatchUp) -> list[str]:
    return [m.id for m in result.messages] + [d.id for d in result.deleted]


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


# --- real sockets and processes ---------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on right now (another process may take it: for a port that must
    stay closed, hold ``closed_port()``; for a server, bind port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole block: bound here, never listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def first_line(fd: int, *, seconds: float) -> str:
    """The first line written to ``fd``, waiting at most ``seconds``."""
    data = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(timeout=left):
                pytest.fail(f"no line on stderr within {seconds} s: {data!r}")
            chunk = os.read(fd, 4096)
            if not chunk:
                pytest.fail(f"stderr closed before a whole line: {data!r}")
            data += chunk
    return data.decode().split("\n")[0] + "\n"


@contextmanager
def rc_mcp_over_http(env: dict[str, str], *, command: list[str] | None = None) -> Iterator[str]:
    """``rc-mcp --transport streamable-http --port 0`` as a process of its own; yields the base URL it
    announces once ``/healthz`` answers (bounded), and stops it afterwards. Port 0: the process binds
    a port the system picks, so no other test can take it first."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
    process = subprocess.Popen(
        [*(command or [sys.executable, "-m", "rc_mcp"]), "--transport", "streamable-http", "--port", "0"],
        env={**clean, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        announced = first_line(process.stderr.fileno(), seconds=30)
        assert announced.startswith("rc-mcp: serving MCP at http://127.0.0.1:"), announced
        url = announced.strip().rsplit(" ", 1)[1].removesuffix("/mcp")
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=2, verify=tls_context()) as probe:
            while True:
                assert process.poll() is None, f"rc-mcp exited {process.returncode}: {process.communicate()[1]}"
                try:
                    if probe.get(f"{url}/healthz").json() == {"status": "ok"}:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "rc-mcp did not answer /healthz within 30 s"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


# --- the bare emulator with plain HTTP clients, for the emulator's own tests ---------------------


@dataclass
class Server:
    """A bare emulator (an admin, a plain user, one public channel) and sync HTTP clients for it:
    in process by default, or on a real loopback port (``running``) for tests that need a socket."""

    emulator: Emulator
    workspace: Workspace
    room: str
    admin: httpx.Client
    user: httpx.Client
    anonymous: httpx.Client
    user_id: str
    url: str
    running: RunningEmulator | None = None


ADMIN_HEADERS = {"X-User-Id": "ADMIN", "X-Auth-Token": "admin-token"}
USER_HEADERS = {"X-User-Id": "USER", "X-Auth-Token": "user-token"}


@pytest.fixture
def server() -> Iterator[Server]:
    yield from in_process_server()


@pytest.fixture
def limited_server() -> Iterator[Server]:
    yield from in_process_server(rate_limiter=RateLimiter(calls=3, window_ms=60_000))


@contextmanager
def in_process(emulator: Emulator, headers: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    """A sync HTTP client that drives the emulator's ASGI app in process (Starlette's TestClient)."""
    from starlette.testclient import TestClient

    with TestClient(emulator.app, base_url="http://testserver", headers=headers or {}) as client:
        yield client


def in_process_server(**options: object) -> Iterator[Server]:
    """The emulator's ASGI app driven in process (Starlette's TestClient): no port, no thread to start."""
    from starlette.testclient import TestClient

    ws, room = bare_workspace()
    emulator = Emulator(ws, **options)  # type: ignore[arg-type]
    url = "http://testserver"
    with (
        TestClient(emulator.app, base_url=url, headers=ADMIN_HEADERS) as admin,
        TestClient(emulator.app, base_url=url, headers=USER_HEADERS) as user,
        TestClient(emulator.app, base_url=url) as anonymous,
    ):
        yield Server(emulator, ws, room, admin, user, anonymous, "USER", url)


def real_server(**options: object) -> Iterator[Server]:
    """The emulator served on a loopback port, for connection-level behaviour (resets, stalls, redirects)."""
    ws, room = bare_workspace()
    emulator = Emulator(ws, **options)  # type: ignore[arg-type]
    tls = tls_context()  # loopback HTTP needs none, but httpx builds one per client unless given one
    with (
        serve(emulator) as running,
        httpx.Client(base_url=running.url, headers=ADMIN_HEADERS, verify=tls) as admin,
        httpx.Client(base_url=running.url, headers=USER_HEADERS, verify=tls) as user,
        httpx.Client(base_url=running.url, verify=tls) as anonymous,
    ):
        yield Server(emulator, ws, room, admin, user, anonymous, "USER", running.url, running)
