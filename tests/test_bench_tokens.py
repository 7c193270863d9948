"""The token targets, checked on the benchmark's deterministic dataset (counts, not timings)."""

from __future__ import annotations

import pytest

from bench.tokens import STRUCTURED_TARGET, TARGET, measure

pytestmark = pytest.mark.anyio


async def test_text_and_structured_content_cost_a_fraction_of_the_raw_json(capsys: pytest.CaptureFixture[str]) -> None:
    text_ratio, structured_ratio = await measure()
    assert text_ratio <= TARGET and structured_ratio <= STRUCTURED_TARGET
    assert "messages missing a fact:    0 in the text, 0 in the structured content" in capsys.readouterr().out
