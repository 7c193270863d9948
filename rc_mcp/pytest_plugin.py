"""pytest fixture for scripted agent tests, registered as a pytest plugin when rc-mcp is installed
(``pytest_plugins = ["rc_mcp.pytest_plugin"]`` in a conftest works too).

The emulator is imported when a test asks for the fixture, not when pytest starts: every pytest run
in an environment with rc-mcp installed loads this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rc_mcp.testing import EmulatorSession


@pytest.fixture
def rc_emulator() -> Iterator[EmulatorSession]:
    """A fresh seeded demo workspace served on a loopback port for one test."""
    from rc_mcp.testing import demo_emulator

    with demo_emulator() as session:
        yield session
