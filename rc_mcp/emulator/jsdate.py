"""What the server's JavaScript does with dates and cursors (reference §2.4).

``date_parse`` mirrors the cases of V8's ``Date.parse`` the reference verified; ``parse_int``
mirrors ``parseInt(s, 10)``, which is how the server reads cursors.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

_ISO = re.compile(
    r"^(?P<y>[+-]\d{6}|\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?$"
)
_MAX_MS = 8_640_000_000_000_000


def date_parse(text: str, local: tzinfo = UTC) -> int | None:
    """Milliseconds like ``Date.parse(text)``, or None where JavaScript gives NaN.

    Date-only forms are UTC; date-times without an offset are in the server's ``local`` zone.
    """
    text = text.strip()
    if not text:
        return None
    match = _ISO.match(text)
    if match:
        return _from_iso(match, local)
    if text.isdigit() and len(text) <= 2:
        # V8's legacy parser reads a lone small number as a month of 2001, in local time.
        month = int(text)
        return _ms(datetime(2001, month, 1, tzinfo=local)) if 1 <= month <= 12 else None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return _ms(parsed if parsed.tzinfo else parsed.replace(tzinfo=local))


def parse_int(text: str) -> int | None:
    """``parseInt(text, 10)``: optional sign and the leading digits; None for NaN."""
    match = re.match(r"^\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else None


def valid_date_ms(ms: int | None) -> bool:
    """Whether ``new Date(ms)`` is a valid date."""
    return ms is not None and abs(ms) <= _MAX_MS


def _from_iso(match: re.Match[str], local: tzinfo) -> int | None:
    parts = match.groupdict()
    try:
        year = int(parts["y"])
        month = int(parts["mo"] or 1)
        day = int(parts["d"] or 1)
        hour = int(parts["h"] or 0)
        minute = int(parts["mi"] or 0)
        second = int(parts["s"] or 0)
        micro = int((parts["f"] or "0")[:6].ljust(6, "0"))
        zone: tzinfo
        if parts["tz"] == "Z" or parts["h"] is None:
            zone = UTC
        elif parts["tz"]:
            sign = -1 if parts["tz"][0] == "-" else 1
            digits = parts["tz"][1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        else:
            zone = local
        if hour == 24 and minute == second == micro == 0:
            return _ms(datetime(year, month, day, tzinfo=zone) + timedelta(days=1))
        return _ms(datetime(year, month, day, hour, minute, second, micro, tzinfo=zone))
    except ValueError:
        return None


def _ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
