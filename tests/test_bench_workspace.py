"""The workspace catch-up's request target, checked on the benchmark's workspace (counts, not timings)."""

from __future__ import annotations

import pytest

from bench.workspace import CHANGED, TARGET, measure

pytestmark = pytest.mark.anyio


async def test_two_hundred_rooms_ten_changed() -> None:
    lists, syncs, shown, result = await measure()
    assert lists == 2 and syncs <= CHANGED + 2 and lists + syncs <= TARGET
    assert shown == CHANGED and result.caught_up
