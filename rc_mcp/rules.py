"""The endpoint's parameter rules, enforced before any request is sent.

``plan`` turns a tool call's raw arguments into a ``SyncPlan`` or raises ``ArgumentError`` whose
message names the rule and says what to send instead. Nothing here talks to the network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rc_mcp.models import RESULT_CHAR_BUDGET, Mode, Stream, iso, to_ms

DEFAULT_COUNT = 50
MAX_COUNT = 500
MAX_OFFSET = 100_000
MIN_CHARS = 1_000
MAX_CHARS = 200_000

# Sort fields each tool accepts: the wire name and our output name mean the same thing.
SORT_FIELDS: dict[Stream, dict[str, str]] = {
    "updated": {
        "ts": "ts",
        "_updatedAt": "updated_at",
        "updated_at": "updated_at",
        "_id": "id",
        "id": "id",
        "u.username": "author",
        "author": "author",
    },
    "deleted": {"_deletedAt": "deleted_at", "deleted_at": "deleted_at", "_id": "id", "id": "id"},
}
DEFAULT_SORT: dict[Stream, tuple[tuple[str, int], ...]] = {
    "updated": (("ts", 1),),
    "deleted": (("deleted_at", 1),),
}
_DIGITS = re.compile(r"^\d{1,16}$")


class ArgumentError(ValueError):
    """A tool argument breaks one of the endpoint's rules; the message says what to send instead."""


@dataclass(frozen=True)
class SyncPlan:
    """A validated request: what to ask the server and how to cut the answer for the agent."""

    stream: Stream
    room_id: str
    mode: Mode
    last_update: datetime | None
    cursor: int | None
    count: int
    offset: int
    sort: tuple[tuple[str, int], ...]
    sort_given: bool
    max_chars: int = RESULT_CHAR_BUDGET

    def arguments(self) -> dict[str, Any]:
        """The call's arguments as the agent would send them again (used to build continuations)."""
        args: dict[str, Any] = {"room_id": self.room_id}
        if self.last_update is not None:
            args["last_update"] = iso(self.last_update)
        if self.sort_given:
            args["sort"] = dict(self.sort)
        if self.max_chars != RESULT_CHAR_BUDGET:
            args["max_chars"] = self.max_chars
        return args


def plan(
    stream: Stream,
    *,
    room_id: str | None,
    last_update: str | None = None,
    next: int | str | None = None,
    previous: int | str | None = None,
    count: int | None = None,
    offset: int | None = None,
    sort: dict[str, Any] | str | None = None,
    max_chars: int | None = None,
) -> SyncPlan:
    """Check every rule in the order an agent can best act on; raise ArgumentError on the first break."""
    room = (room_id or "").strip()
    if not room:
        raise ArgumentError("room_id is required: send the room's id (its _id, e.g. 'GENERAL' or 'hQ3vRzq5XbHgxF8mz').")
    given = [name for name, value in (("next", next), ("previous", previous)) if _present(value)]
    has_last_update = _present(last_update)
    if has_last_update and given:
        raise ArgumentError(
            f"last_update cannot be combined with {' or '.join(given)}: send last_update alone to get "
            "everything changed since a time, or a cursor alone to page from a point."
        )
    if len(given) == 2:
        raise ArgumentError(
            "next and previous cannot be sent together: send next to read forward (newer changes) "
            "or previous to read backward (older changes)."
        )
    if not has_last_update and not given:
        raise ArgumentError(
            "one of last_update, next or previous is required: send last_update (ISO-8601, e.g. "
            "'2026-11-20T09:00:00Z') for everything changed since then, or next='0' to read the room's "
            "changes from the beginning, or a next/previous cursor from an earlier result."
        )

    since = _last_update(str(last_update)) if has_last_update else None
    mode: Mode = "last_update"
    cursor = None
    if given:
        mode = "next" if given[0] == "next" else "previous"
        cursor = _cursor(given[0], next if mode == "next" else previous)

    size = _count(count)
    skip = _offset(offset)
    order, sort_given = _sort(stream, sort)
    return SyncPlan(stream, room, mode, since, cursor, size, skip, order, sort_given, max_chars_rule(max_chars))


def max_chars_rule(max_chars: object) -> int:
    """The agent's output-size budget for one answer (characters of message text and markers)."""
    if max_chars is None:
        return RESULT_CHAR_BUDGET
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or not MIN_CHARS <= max_chars <= MAX_CHARS:
        raise ArgumentError(
            f"max_chars={max_chars!r} is out of range: send a whole number from {MIN_CHARS} to {MAX_CHARS} "
            f"(default {RESULT_CHAR_BUDGET})."
        )
    return max_chars


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _last_update(raw: str) -> datetime:
    text = raw.strip()
    if _DIGITS.match(text):
        raise ArgumentError(
            f"last_update={raw!r} looks like a millisecond cursor, not a date-time: send it as next={text!r} "
            "instead, or send last_update as ISO-8601 such as '2026-11-20T09:00:00Z'."
        )
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ArgumentError(
            f"last_update={raw!r} is not a valid ISO-8601 date-time: send e.g. '2026-11-20T09:00:00Z' "
            "(a time without an offset is taken as UTC)."
        ) from None
    # Naive means UTC for us; the server would read it in its own zone, so we always send UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _cursor(name: str, raw: object) -> int:
    if isinstance(raw, bool):
        raise ArgumentError(f"{name} must be a cursor (milliseconds since 1970 as digits), not a boolean.")
    if isinstance(raw, int):
        if raw < 0:
            raise ArgumentError(f"{name}={raw} is negative: send a cursor from an earlier result, or 0.")
        return raw
    text = str(raw).strip()
    if _DIGITS.match(text):
        return int(text)
    # An ISO time sent raw would make real servers read only its year as milliseconds and sync
    # from 1970, so convert it here instead.
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentError(
            f"{name}={raw!r} is not a cursor: send the digits of a next_cursor/previous_cursor from an "
            "earlier result (milliseconds since 1970, e.g. '1763629200000'), or an ISO-8601 date-time."
        ) from None
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _count(count: object) -> int:
    if count is None:
        return DEFAULT_COUNT
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ArgumentError(
            f"count={count!r} is out of range: send a whole number from 1 to {MAX_COUNT} (default {DEFAULT_COUNT})."
        )
    return count


def _offset(offset: object) -> int:
    if offset is None:
        return 0
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ArgumentError(
            f"offset={offset!r} is out of range: send a whole number of items to skip, 0 or more (or leave it out)."
        )
    return offset


def _sort(stream: Stream, raw: dict[str, Any] | str | None) -> tuple[tuple[tuple[str, int], ...], bool]:
    allowed = SORT_FIELDS[stream]
    names = ", ".join(allowed)
    if raw is None or raw == "" or raw == {}:
        return DEFAULT_SORT[stream], False
    value: object = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise ArgumentError(f'sort must be an object of field → 1 or -1, e.g. {{"ts": -1}}; fields: {names}.')
    order = []
    for field, direction in value.items():
        if field not in allowed:
            raise ArgumentError(f"sort field {field!r} is not supported here: use one of {names}.")
        if isinstance(direction, bool) or direction not in (1, -1):
            raise ArgumentError(
                f"sort direction for {field!r} is {direction!r}: send 1 (ascending) or -1 (descending)."
            )
        order.append((allowed[field], int(direction)))
    return tuple(order), True
