"""Helpers for scripted agent tests of rc-mcp without a Rocket.Chat server.

``demo_emulator()`` serves the seeded demo workspace on a loopback port and hands back what a test
needs: the environment for ``rc-mcp``, ready-made stdio launch parameters, and the live workspace to
post, edit, react to and delete messages at controlled times. Each session keeps rc-mcp's local
history in its own temporary directory. With pytest (``pip install 'rc-mcp[testing]'``), use the
``rc_emulator`` fixture: rc-mcp registers it as a pytest plugin.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rc_mcp.config import STATE_DIR_VAR
from rc_mcp.emulator import DemoWorkspace, Emulator, RateLimiter, RunningEmulator, demo_workspace, serve
from rc_mcp.emulator.syncmessages import Router
from rc_mcp.emulator.workspace import Workspace

if TYPE_CHECKING:
    from mcp import StdioServerParameters


@dataclass(frozen=True)
class EmulatorSession:
    """A served demo workspace and how to point rc-mcp at it."""

    running: RunningEmulator
    demo: DemoWorkspace
    state_dir: Path

    @property
    def emulator(self) -> Emulator:
        return self.running.emulator

    @property
    def workspace(self) -> Workspace:
        return self.demo.workspace

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def env(self) -> dict[str, str]:
        """The environment for rc-mcp: the demo's agent user and a private local-history directory."""
        return {**self.running.env(self.demo.user_id, self.demo.token), STATE_DIR_VAR: str(self.state_dir)}

    def server_params(self, **extra_env: str) -> StdioServerParameters:
        """Launch parameters for the real ``rc-mcp`` process (this Python's ``-m rc_mcp``)."""
        # Imported here: the MCP SDK takes half a second to import, and a test that only needs the
        # emulator (through the rc_emulator fixture, in every pytest run that asks for it) should not pay it.
        from mcp import StdioServerParameters

        return StdioServerParameters(command=sys.executable, args=["-m", "rc_mcp"], env={**self.env, **extra_env})


@contextmanager
def demo_emulator(
    *, rate_limit: RateLimiter | bool = False, router: Router = "legacy", seed: int = 7
) -> Iterator[EmulatorSession]:
    """Serve a fresh demo workspace on 127.0.0.1 (free port) for the duration of the block.

    ``rate_limit=True`` applies Rocket.Chat's default 10 calls/minute; pass a ``RateLimiter`` for
    other numbers. ``router="typed"`` answers schema errors like 8.8+ servers do.
    """
    demo = demo_workspace(seed=seed)
    limiter = RateLimiter() if rate_limit is True else (rate_limit or None)
    emulator = Emulator(demo.workspace, rate_limiter=limiter, router=router)
    with serve(emulator) as running, tempfile.TemporaryDirectory(prefix="rc-mcp-state-") as state:
        yield EmulatorSession(running=running, demo=demo, state_dir=Path(state))
