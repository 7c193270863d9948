"""Property tests of the tool arguments through the MCP layer (hypothesis): whatever an agent sends,
the answer is a result or one clean error line, never a crash; an invalid call never succeeds and a
valid one never fails for its arguments; and no request reaches the server that a real 7.1+ server
would reject."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests.conftest import T0, Harness, text_of

pytestmark = pytest.mark.anyio

# Candidate values per argument, each with whether the rules accept it.
ROOM_IDS = [("ROOM", True), ("#conformance", True), (" ROOM ", True), ("", False), ("  ", False), (None, False),
            (7, False), ("x" * 257, False), (["ROOM"], False)]  # fmt: skip
TIMES = [("2026-11-20T09:00:00Z", True), ("2026-11-20T09:00:00", True), ("2026-11-20", True),
         ("2026-11-20T12:00:00+03:00", True), ("yesterday", False), ("1795165200000", False), (1795165200000, False),
         ("2999-01-01T00:00:00Z", False), ("1969-12-31T23:59:59Z", False), ("0001-01-01T00:00:00+01:00", False),
         ("", None)]  # fmt: skip
CURSORS = [("0", True), (0, True), (str(T0), True), (T0, True), (" 42 ", True), ("2026-11-20T09:00:00Z", True),
           ("8640000000000000", False), (str(T0 + 864_000_000), False), ("9999999999999999", False), ("-1", False),
           (-1, False), (True, False), (1.5, False), ("١٢٣", False), ("abc", False), ("1900-01-01T00:00:00Z", False),
           ("", None), ([1], False)]  # fmt: skip
COUNTS = [(1, True), (50, True), (500, True), ("7", True), (0, False), (501, False), (-3, False), (True, False),
          (2.5, False), ("many", False), ("٣", False)]  # fmt: skip
OFFSETS = [(0, True), (3, True), (100_000, True), (-1, False), (100_001, False), ("2", True), (False, False)]
CHARS = [(1000, True), (200_000, True), (999, False), (200_001, False), ("5000", True)]
SORTS = [({"ts": -1}, True), ({"_updatedAt": 1, "_id": -1}, True), ('{"ts": 1}', True), ({}, True), ("", True),
         ({"msg": 1}, False), ({"ts": 2}, False), ({"ts": "desc"}, False), ("ts desc", False), ([1], False),
         ("[" * 3000, False)]  # fmt: skip
UNKNOWN = [("roomId", "ROOM"), ("lastUpdate", "2026-11-20T09:00:00Z"), ("limit", 5), ("zzz", None)]


def pick(draw: st.DrawFn, options: list[tuple[Any, bool | None]]) -> tuple[Any, bool | None]:
    """Mostly an accepted value, sometimes a refused one."""
    good = [option for option in options if option[1] is not False]
    return draw(st.sampled_from(good)) if draw(st.integers(0, 3)) else draw(st.sampled_from(options))


@st.composite
def calls(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """Arguments for sync_messages, and whether the rules accept them (an oracle written apart from them)."""
    args: dict[str, Any] = {}
    ok = True
    starts = 0
    chosen = draw(st.sampled_from(["last_update", "next", "previous"] * 3 + ["none", "two"]))
    wanted = {"last_update", "next", "previous"} if chosen == "two" else {chosen}
    for name, options in (("room_id", ROOM_IDS), ("last_update", TIMES), ("next", CURSORS), ("previous", CURSORS),
                          ("count", COUNTS), ("offset", OFFSETS), ("max_chars", CHARS), ("sort", SORTS)):  # fmt: skip
        is_start = name in ("last_update", "next", "previous")
        if (is_start and name not in wanted) or (not is_start and name != "room_id" and draw(st.booleans())):
            continue
        if chosen == "two" and is_start and starts == 2:
            continue
        value, accepted = pick(draw, options)
        args[name] = value
        if accepted is None:  # an empty value counts as not given
            continue
        ok = ok and accepted
        starts += is_start
    if draw(st.integers(0, 9)) == 0:
        key, value = draw(st.sampled_from(UNKNOWN))
        args[key] = value
        ok = False
    return args, ok and starts == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls())
async def test_arguments_are_accepted_exactly_when_the_rules_say(mcp: Client, harness: Harness, call: Any) -> None:
    arguments, valid = call
    event("valid" if valid else "invalid")
    before = len(harness.sync_requests())
    result = await mcp.call_tool("sync_messages", arguments)
    text = text_of(result)
    assert text and "\n" not in text if result.is_error else text.count("\n") >= 2
    assert "Traceback" not in text and "Error executing tool sync_messages\n" not in text
    if valid:
        assert result.is_error is False, (arguments, text)
    else:
        assert result.is_error is True, (arguments, text)
        assert "(No request was sent.)" in text and len(harness.sync_requests()) == before
    assert_every_request_is_one_a_server_accepts(harness)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tool=st.sampled_from(["list_rooms", "sync_messages", "list_deleted", "catch_up", "search_history"]),
    arguments=st.dictionaries(
        st.sampled_from(["room_id", "last_update", "next", "previous", "count", "offset", "sort", "max_chars",
                         "checkpoint", "since", "max_items"]) | st.text(max_size=12),
        JSON,
        max_size=6,
    ),
)  # fmt: skip
async def test_anything_at_all_is_a_result_or_one_clean_error(
    mcp: Client, harness: Harness, tool: str, arguments: dict[str, Any]
) -> None:
    result = await mcp.call_tool(tool, arguments)
    text = text_of(result)
    assert text and "Traceback" not in text
    if result.is_error:
        assert "\n" not in text and len(text) < 2_500 and "failed unexpectedly" not in text, text
    assert_every_request_is_one_a_server_accepts(harness)


def assert_every_request_is_one_a_server_accepts(harness: Harness) -> None:
    for query in harness.sync_requests():
        assert set(query) <= {"roomId", "type", "next", "previous", "count", "lastUpdate"}, query
        if "lastUpdate" not in query:
            assert query["type"] in ("UPDATED", "DELETED") and 1 <= int(query["count"]) <= 100_000
            cursor = query.get("next", query.get("previous", ""))
            assert cursor.isascii() and cursor.isdigit() and int(cursor) <= 8_640_000_000_000_000
    assert harness.transport is not None
    for status, error_type in harness.transport.answers:
        # Only a room the agent named but cannot read may be refused; never the request's shape.
        assert status == 200 or error_type == "error-not-allowed", (status, error_type)


def test_the_oracle_is_not_trivial() -> None:
    """Both outcomes occur in the candidates, so the property test checks something either way."""
    assert any(ok for _, ok in CURSORS) and any(ok is False for _, ok in CURSORS)
    assert json.dumps([v for v, _ in TIMES if isinstance(v, str)])
