"""Every argument rule: a violation is an ArgumentError that names the rule and what to send, and
the schema each tool publishes states the same bounds."""

from __future__ import annotations

from typing import Any

import pytest

from rc_mcp.rules import (
    DEFAULT_COUNT,
    MAX_COUNT,
    ArgumentError,
    CatchUpArguments,
    DeletedArguments,
    SyncPlan,
    UpdatedArguments,
    parse,
    plan,
)
from rc_mcp.times import MAX_JS_MS
from tests.conftest import T0

ROOM = {"room_id": "GENERAL"}
NOW = T0 + 3_600_000


def updated(**arguments: Any) -> SyncPlan:
    return plan(parse(UpdatedArguments, arguments, now_ms=NOW))


def test_last_update_mode_defaults() -> None:
    p = updated(**ROOM, last_update="2026-11-20T09:00:00Z")
    assert (p.mode, p.position, p.count, p.offset, p.sort, p.forward) == (
        "last_update",
        T0,
        DEFAULT_COUNT,
        0,
        None,
        True,
    )


def test_naive_last_update_is_utc_and_offsets_are_converted() -> None:
    assert updated(**ROOM, last_update="2026-11-20T09:00:00").position == T0
    assert updated(**ROOM, last_update="2026-11-20T12:00:00+03:00").position == T0
    assert updated(**ROOM, last_update="2026-11-20").position == T0 - 9 * 3_600_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), ("0", 0), ("1795165200000", 1795165200000), (1795165200000, 1795165200000),
     (" 42 ", 42), ("2026-11-20T09:00:00Z", T0), ("2026-11-20T09:00:00", T0), (NOW + 60_000, NOW + 60_000)],
)  # fmt: skip
def test_cursor_forms(value: object, expected: int) -> None:
    assert updated(**ROOM, next=value).position == expected
    p = plan(parse(DeletedArguments, {**ROOM, "previous": value}, now_ms=NOW))
    assert (p.mode, p.position, p.forward) == ("previous", expected, False)


def test_whole_numbers_may_come_as_strings() -> None:
    assert updated(**ROOM, next="0", count="7", offset=" 2 ").count == 7


VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"room_id": ""}, "room_id is required: send the room's id"),
    ({"room_id": "   ", "next": "0"}, "room_id is required"),
    ({"room_id": None, "next": "0"}, "room_id=None is not accepted"),
    ({"room_id": "x" * 300, "next": "0"}, "room_id is too long (300 characters): at most 256"),
    ({**ROOM, "last_update": "2026-11-20T09:00:00Z", "next": "1"}, "last_update cannot be combined with next"),
    ({**ROOM, "last_update": "2026-11-20T09:00:00Z", "previous": "1"}, "last_update cannot be combined with previous"),
    ({**ROOM, "next": "1", "previous": "2"}, "next and previous cannot be sent together"),
    ({**ROOM}, "one of last_update, next or previous is required: send last_update"),
    ({**ROOM, "last_update": "  ", "next": None}, "one of last_update, next or previous is required"),
    ({**ROOM, "last_update": "yesterday"}, "last_update='yesterday' is not a valid ISO-8601 date-time after 1970"),
    ({**ROOM, "last_update": "2026-13-45"}, "is not a valid ISO-8601 date-time"),
    ({**ROOM, "last_update": "0001-01-01T00:00:00+01:00"}, "is not a valid ISO-8601 date-time after 1970"),
    ({**ROOM, "last_update": "2999-01-01T00:00:00Z"}, "is in the future"),
    ({**ROOM, "last_update": 1795165200000}, "is not an ISO-8601 date-time"),
    ({**ROOM, "last_update": "1795165200000"}, "looks like a millisecond cursor, not a date-time: send it as next="),
    ({**ROOM, "next": "abc"}, "next='abc' is not a cursor: send the digits"),
    ({**ROOM, "next": "1714557600000.9"}, "is not a cursor"),
    ({**ROOM, "next": "1900-01-01T00:00:00Z"}, "is not a cursor"),
    ({**ROOM, "next": "١٢٣"}, "next='١٢٣' is not a cursor"),
    ({**ROOM, "next": str(MAX_JS_MS)}, "is past the largest date a server can hold"),
    ({**ROOM, "next": str(NOW + 2 * 86_400_000)}, "is in the future"),
    ({**ROOM, "next": "9999999999999999"}, "is past the largest date a server can hold"),
    ({**ROOM, "previous": "-5"}, "previous='-5' is not a cursor"),
    ({**ROOM, "next": -5}, "next=-5 is negative"),
    ({**ROOM, "next": True}, "next=True is not a cursor"),
    ({**ROOM, "next": 1.5}, "next=1.5 is not a cursor"),
    ({**ROOM, "next": "0", "count": 0}, f"count=0 is out of range: send a whole number from 1 to {MAX_COUNT}"),
    ({**ROOM, "next": "0", "count": MAX_COUNT + 1}, "is out of range"),
    ({**ROOM, "next": "0", "count": -3}, "is out of range"),
    ({**ROOM, "next": "0", "count": True}, "count=True is not a whole number"),
    ({**ROOM, "next": "0", "count": 2.5}, "count=2.5 is not a whole number"),
    ({**ROOM, "next": "0", "offset": -1}, "offset=-1 is out of range"),
    ({**ROOM, "next": "0", "offset": 100_001}, "offset=100001 is out of range: send a whole number from 0 to 100000"),
    ({**ROOM, "next": "0", "max_chars": 10}, "max_chars=10 is out of range: send a whole number from 1000 to 200000"),
    ({**ROOM, "next": "0", "sort": {"msg": 1}}, "names field 'msg', which is not supported here: use ts,"),
    ({**ROOM, "next": "0", "sort": {"ts": 2}}, "gives 'ts' the direction '2': send 1 or -1"),
    ({**ROOM, "next": "0", "sort": {"ts": "desc"}}, "gives 'ts' the direction 'desc'"),
    ({**ROOM, "next": "0", "sort": {"ts": True}}, "gives 'ts' the direction 'True'"),
    ({**ROOM, "next": "0", "sort": "ts desc"}, "must be an object of field → 1 or -1"),
    ({**ROOM, "next": "0", "sort": "[" * 100_000}, "must be an object of field → 1 or -1"),
    ({**ROOM, "next": "0", "sort": [1]}, "must be an object"),
    ({**ROOM, "next": "0", "roomId": "GENERAL"}, "unknown argument 'roomId': this tool calls it room_id"),
    ({"roomId": "GENERAL", "next": "0"}, "unknown argument 'roomId': this tool calls it room_id"),
    ({**ROOM, "lastUpdate": "2026-11-20T09:00:00Z"}, "unknown argument 'lastUpdate': this tool calls it last_update"),
    ({**ROOM, "next": "0", "limit": 5}, "unknown argument 'limit': this tool calls it count"),
    ({**ROOM, "next": "0", "cont": 5}, "unknown argument 'cont': this tool calls it count"),
    ({**ROOM, "next": "0", "zzz": 5}, "unknown argument 'zzz': this tool takes room_id, last_update, next"),
]


@pytest.mark.parametrize(("arguments", "message"), VIOLATIONS)
def test_violations(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError) as raised:
        updated(**arguments)
    assert message in str(raised.value)


def test_sort_fields_depend_on_the_tool() -> None:
    with pytest.raises(ArgumentError, match="use _deletedAt, deleted_at, _id, id"):
        parse(DeletedArguments, {**ROOM, "next": "0", "sort": {"ts": 1}})
    p = plan(parse(DeletedArguments, {**ROOM, "next": "0", "sort": '{"_deletedAt": -1, "_id": 1}'}))
    assert p.sort == (("deleted_at", -1), ("id", 1))


def test_continuation_round_trips_into_the_same_plan_from_a_new_position() -> None:
    p = updated(**ROOM, last_update="2026-11-20T12:00:00+03:00", sort={"u.username": -1}, count=7, max_chars=5000)
    again = updated(**p.continuation(T0 + 5))
    assert (again.mode, again.position, again.sort, again.count, again.max_chars) == ("next", T0 + 5, p.sort, 7, 5000)


@pytest.mark.parametrize("model", [UpdatedArguments, DeletedArguments, CatchUpArguments])
def test_schema_states_every_bound_and_refuses_unknown_names(model: type[Any]) -> None:
    schema = model.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema.get("required", []) == ([] if model is CatchUpArguments else ["room_id"])  # no room: every room
    for name, field in schema["properties"].items():
        assert field.get("description"), name
        options = [field, *field.get("anyOf", [])]
        if any(option.get("type") == "integer" for option in options) and name not in ("next", "previous"):
            bounded = next(option for option in options if option.get("type") == "integer")
            assert "minimum" in bounded and "maximum" in bounded, name


def test_checkpoint_names_are_plain() -> None:
    assert parse(CatchUpArguments, {**ROOM, "checkpoint": "daily-digest_2.v1"}).checkpoint == "daily-digest_2.v1"
    for bad in ("", "a b", "x" * 65, "a\nend:", "ö"):
        with pytest.raises(ArgumentError, match="is not a valid name"):
            parse(CatchUpArguments, {**ROOM, "checkpoint": bad})
