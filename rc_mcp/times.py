"""Times as Rocket.Chat counts them: milliseconds since 1970, ISO-8601 in UTC with a ``Z``.

The one formatter and the parsers every other module uses. The emulator keeps its own on purpose:
a test double should not share code with what it tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)  # built once: timedelta(milliseconds=1) costs more than to_ms's arithmetic
# The largest time a JavaScript Date holds; a server answers 400 "Invalid Date" past it.
MAX_JS_MS = 8_640_000_000_000_000
# Python's datetime stops at year 9999, before JavaScript does.
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
MAX_MS = (LATEST - EPOCH) // MILLISECOND


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (no float rounding)."""
    return (moment - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``, the way Rocket.Chat serialises dates."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime | None:
    """An ISO-8601 date-time from a person or an agent; a time without an offset is UTC.

    None when it is not ISO-8601 or lies outside what both Python and JavaScript can hold.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        return None
    return moment


def parse_wire_date(value: object) -> datetime | None:
    """A date as the REST API writes it (ISO string) or as EJSON does (``{"$date": ms}``).

    Anything else — numbers, garbage, a time before 1970 or past year 9999 in any form — is None: a
    bare integer is not how any Rocket.Chat version serialises a date (reading it as milliseconds
    would put it in 1970), and a date becomes a position, which cannot be negative.
    """
    moment = _wire_moment(value)
    # The one range for every form: that of a position, 0 <= ms <= MAX_MS (compared as datetimes,
    # which costs less than converting each date to milliseconds).
    return moment if moment is not None and EPOCH <= moment <= LATEST else None


def _wire_moment(value: object) -> datetime | None:
    if isinstance(value, str) and value:
        if len(value) > 40:
            return None
        try:  # The usual "2026-11-20T09:00:00.000Z" in one step; anything else the way parse_iso reads it.
            moment = datetime.fromisoformat(value)
        except ValueError:
            return parse_iso(value)
        return moment if moment.tzinfo is UTC else parse_iso(value)
    if isinstance(value, dict):
        raw = value.get("$date")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            try:
                return from_ms(int(raw))
            except (OverflowError, ValueError):  # inf, nan, or beyond what a datetime holds
                return None
    return None


def parse_http_date(value: str | None) -> int | None:
    """The HTTP ``Date`` header in milliseconds, or None when absent or malformed."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)
