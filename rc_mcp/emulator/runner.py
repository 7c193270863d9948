"""Run an emulator on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from rc_mcp.emulator.app import Emulator


@dataclass(frozen=True)
class RunningEmulator:
    """An emulator being served: its URL and the objects behind it."""

    emulator: Emulator
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def env(self, user_id: str, token: str) -> dict[str, str]:
        """The environment ``rc-mcp`` needs to talk to this emulator as the given user (the names are
        spelled here too: the emulator imports nothing from rc-mcp, the program it stands in for)."""
        return {"ROCKETCHAT_URL": self.url, "ROCKETCHAT_USER_ID": user_id, "ROCKETCHAT_AUTH_TOKEN": token}


@contextmanager
def serve(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEmulator]:
    """Serve ``emulator`` on ``host:port`` (0 picks a free port) until the block ends."""
    # The emulator stamps its own Date from the workspace clock: uvicorn must not add a second one.
    emulator.faults.reopen()
    with serve_app(emulator.app, host=host, port=port, date_header=False) as url:
        try:
            yield RunningEmulator(emulator=emulator, url=url)
        finally:
            # Endless faults (never_respond, trickle) would keep uvicorn from shutting down.
            emulator.faults.release()


class _PromptServer(uvicorn.Server):
    """uvicorn notices ``should_exit`` on a 0.1 s tick, then sleeps another 0.1 s and polls every
    0.1 s while connections drain. A test run starts and stops the emulator about a hundred times,
    so this server is woken at once and polls finely: the same steps in uvicorn's order, without
    the fixed waits (about 10 s of every run)."""

    _POLL = 0.002
    _DRAIN = 10.0  # s; endless faults are released before the stop, so this is only a backstop

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        # Set before reading should_exit, so stop() either sees them or main_loop sees should_exit.
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        if not self.should_exit:
            await self._wake.wait()

    def stop(self) -> None:
        """From any thread: end main_loop now."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state, deadline = self.server_state, time.monotonic() + self._DRAIN
        while (state.connections or state.tasks) and time.monotonic() < deadline:
            await asyncio.sleep(self._POLL)
        for task in state.tasks:
            task.cancel()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@contextmanager
def serve_app(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, date_header: bool = True) -> Iterator[str]:
    """Serve any ASGI app in a background thread; yields its base URL.

    ``date_header=False`` leaves the ``Date`` header to the app. uvicorn's ``Server: uvicorn``
    header is always off: a stand-in should not name the framework it happens to run on.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        date_header=date_header,
        server_header=False,
    )
    server = _PromptServer(config)
    thread = threading.Thread(target=server.run, name="rc-mcp-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the emulator could not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.stop()
        thread.join(timeout=10)


def serve_demo(port: int, *, rate_limit: bool) -> None:
    """``rc-mcp emulator``: serve the demo workspace until interrupted, printing the environment that
    points rc-mcp at it."""
    from rc_mcp.emulator.ratelimit import RateLimiter
    from rc_mcp.emulator.seed import demo_workspace

    demo = demo_workspace()
    emulator = Emulator(demo.workspace, rate_limiter=RateLimiter() if rate_limit else None)
    with serve(emulator, port=port) as running:
        lines = [f"export {name}={value}" for name, value in running.env(demo.user_id, demo.token).items()]
        lines.append(f"# rooms: general={demo.general} dev={demo.dev} support={demo.support}; Ctrl-C to stop")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
