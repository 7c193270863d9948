"""The token target, checked on the benchmark's deterministic dataset (a count, not a timing)."""

from __future__ import annotations

import pytest

from bench.tokens import TARGET, measure

pytestmark = pytest.mark.anyio


async def test_text_costs_at_most_a_fifth_of_the_raw_json(capsys: pytest.CaptureFixture[str]) -> None:
    ratio = await measure()
    assert ratio <= TARGET
    assert "messages missing a fact:    0" in capsys.readouterr().out
