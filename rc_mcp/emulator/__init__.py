"""A faithful stand-in for Rocket.Chat's ``chat.syncMessages`` (and the few routes around it).

Use it to try rc-mcp without a server (``rc-mcp demo``), in our conformance tests, and in your
own scripted agent tests (see :mod:`rc_mcp.testing`). ``Emulator(version=...)`` imitates a given
release (:mod:`.versions`); ``emulator.faults`` makes it answer like a broken server or proxy
(:mod:`.faults`); rooms and subscriptions are in :mod:`.rooms` and :mod:`.workspace`.
"""

from rc_mcp.emulator.app import Emulator, RecordedRequest
from rc_mcp.emulator.faults import ConnectionDropped, Fault, Faults
from rc_mcp.emulator.ratelimit import RateLimiter
from rc_mcp.emulator.runner import RunningEmulator, serve
from rc_mcp.emulator.seed import DemoWorkspace, demo_workspace
from rc_mcp.emulator.workspace import Workspace

__all__ = [
    "ConnectionDropped",
    "DemoWorkspace",
    "Emulator",
    "Fault",
    "Faults",
    "RateLimiter",
    "RecordedRequest",
    "RunningEmulator",
    "Workspace",
    "demo_workspace",
    "serve",
]
