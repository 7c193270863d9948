"""pytest fixture for scripted agent tests: ``pytest_plugins = ["rc_mcp.pytest_plugin"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rc_mcp.testing import EmulatorSession, demo_emulator


@pytest.fixture
def rc_emulator() -> Iterator[EmulatorSession]:
    """A fresh seeded demo workspace served on a loopback port for one test."""
    with demo_emulator() as session:
        yield session
