"""Dates from the server: every form is held to one range, 1970 to year 9999."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rc_mcp.times import MAX_MS, from_ms, parse_wire_date, to_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T09:00:00.000Z", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("2026-11-20T10:00:00+01:00", datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ({"$date": 1_795_165_200_000}, datetime(2026, 11, 20, 9, tzinfo=UTC)),
        ("1970-01-01T00:00:00.000Z", from_ms(0)),
        ({"$date": 0}, from_ms(0)),
        ({"$date": MAX_MS}, from_ms(MAX_MS)),
        ("9999-12-31T23:59:59.999Z", from_ms(MAX_MS)),
    ],
)
def test_dates_in_range_are_read(value: object, expected: datetime) -> None:
    assert parse_wire_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1969-12-31T23:59:59.999Z",  # ISO before 1970: a negative position
        "1970-01-01T00:30:00+01:00",  # the same, by its offset
        "0001-01-01T00:00:00Z",
        "1969-12-31",
        {"$date": -1},
        {"$date": MAX_MS + 1},
        {"$date": 1e300},
        {"$date": float("nan")},
        {"$date": float("inf")},
        {"$date": True},
        1_795_165_200_000,
        "",
        "soon",
    ],
)
def test_dates_out_of_range_or_malformed_are_none(value: object) -> None:
    assert parse_wire_date(value) is None


def test_every_date_read_is_a_valid_position() -> None:
    for value in ("1970-01-01T00:00:00.001Z", {"$date": 1}, "9999-12-31T23:59:59Z"):
        moment = parse_wire_date(value)
        assert moment is not None and 0 <= to_ms(moment) <= MAX_MS
