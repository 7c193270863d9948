"""Every parameter rule: a violation is an ArgumentError that names the rule and what to send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rc_mcp.rules import DEFAULT_COUNT, MAX_COUNT, ArgumentError, plan

ROOM = {"room_id": "GENERAL"}


def test_last_update_mode_defaults() -> None:
    p = plan("updated", **ROOM, last_update="2026-11-20T09:00:00Z")
    assert p.mode == "last_update"
    assert p.last_update == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert (p.cursor, p.count, p.offset, p.sort, p.sort_given) == (
        None,
        DEFAULT_COUNT,
        0,
        (("ts", 1),),
        False,
    )


def test_naive_last_update_is_utc_and_offsets_are_converted() -> None:
    assert plan("updated", **ROOM, last_update="2026-11-20T09:00:00").last_update == datetime(
        2026, 11, 20, 9, tzinfo=UTC
    )
    assert plan("updated", **ROOM, last_update="2026-11-20T12:00:00+03:00").last_update == datetime(
        2026, 11, 20, 9, tzinfo=UTC
    )
    assert plan("updated", **ROOM, last_update="2026-11-20").last_update == datetime(2026, 11, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), ("0", 0), ("1795165200000", 1795165200000), (1795165200000, 1795165200000),
     (" 42 ", 42), ("2026-11-20T09:00:00Z", 1795165200000), ("2026-11-20T09:00:00", 1795165200000)],
)  # fmt: skip
def test_cursor_forms(value: object, expected: int) -> None:
    assert plan("updated", **ROOM, next=value).cursor == expected  # type: ignore[arg-type]
    p = plan("deleted", **ROOM, previous=value)  # type: ignore[arg-type]
    assert (p.mode, p.cursor) == ("previous", expected)


VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"room_id": ""}, "room_id is required: send the room's id"),
    ({"room_id": "   ", "next": "0"}, "room_id is required"),
    ({"room_id": None, "next": "0"}, "room_id is required"),
    (
        {**ROOM, "last_update": "2026-11-20T09:00:00Z", "next": "1"},
        "last_update cannot be combined with next",
    ),
    (
        {**ROOM, "last_update": "2026-11-20T09:00:00Z", "previous": "1"},
        "last_update cannot be combined with previous",
    ),
    ({**ROOM, "next": "1", "previous": "2"}, "next and previous cannot be sent together"),
    ({**ROOM}, "one of last_update, next or previous is required: send last_update"),
    ({**ROOM, "last_update": "  ", "next": None}, "one of last_update, next or previous is required"),
    (
        {**ROOM, "last_update": "yesterday"},
        "last_update='yesterday' is not a valid ISO-8601 date-time: send e.g.",
    ),
    ({**ROOM, "last_update": "2026-13-45"}, "is not a valid ISO-8601 date-time"),
    (
        {**ROOM, "last_update": "1795165200000"},
        "looks like a millisecond cursor, not a date-time: send it as next=",
    ),
    ({**ROOM, "next": "abc"}, "next='abc' is not a cursor: send the digits"),
    ({**ROOM, "next": "1714557600000.9"}, "is not a cursor"),
    ({**ROOM, "previous": "-5"}, "previous='-5' is not a cursor"),
    ({**ROOM, "next": -5}, "next=-5 is negative"),
    ({**ROOM, "next": True}, "not a boolean"),
    (
        {**ROOM, "next": "0", "count": 0},
        f"count=0 is out of range: send a whole number from 1 to {MAX_COUNT}",
    ),
    ({**ROOM, "next": "0", "count": MAX_COUNT + 1}, "is out of range"),
    ({**ROOM, "next": "0", "count": -3}, "is out of range"),
    ({**ROOM, "next": "0", "offset": -1}, "offset=-1 is out of range"),
    ({**ROOM, "next": "0", "sort": {"msg": 1}}, "sort field 'msg' is not supported here: use one of ts,"),
    ({**ROOM, "next": "0", "sort": {"ts": 2}}, "sort direction for 'ts' is 2: send 1 (ascending) or -1"),
    ({**ROOM, "next": "0", "sort": {"ts": "desc"}}, "sort direction for 'ts' is 'desc'"),
    ({**ROOM, "next": "0", "sort": {"ts": True}}, "sort direction for 'ts' is True"),
    ({**ROOM, "next": "0", "sort": "ts desc"}, "sort must be an object of field → 1 or -1"),
    ({**ROOM, "next": "0", "sort": [1]}, "sort must be an object"),
]


@pytest.mark.parametrize(("arguments", "message"), VIOLATIONS)
def test_violations(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError) as raised:
        plan("updated", **arguments)
    assert message in str(raised.value)


def test_sort_fields_depend_on_the_tool() -> None:
    with pytest.raises(ArgumentError, match="use one of _deletedAt, deleted_at, _id, id"):
        plan("deleted", **ROOM, next="0", sort={"ts": 1})
    p = plan("deleted", **ROOM, next="0", sort='{"_deletedAt": -1, "_id": 1}')
    assert p.sort == (("deleted_at", -1), ("id", 1)) and p.sort_given


def test_arguments_round_trip_into_a_new_plan() -> None:
    p = plan("updated", **ROOM, last_update="2026-11-20T12:00:00+03:00", sort={"u.username": -1})
    again = plan("updated", **p.arguments())
    assert (again.last_update, again.sort) == (p.last_update, p.sort)
