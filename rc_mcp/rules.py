"""Every tool's arguments: their types, bounds and rules, declared once and checked before any request.

Each tool's arguments are one Pydantic model. Its JSON schema is the tool's ``inputSchema`` (with
``additionalProperties: false`` and every bound), and the same model validates the call, so the
schema and the errors cannot disagree. ``parse`` turns a raw argument dict into the model or raises
an ``ArgumentError`` whose message names each broken rule and says what to send instead; ``plan``
turns stream arguments into the ``SyncPlan`` the logic runs. Nothing here talks to the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, TypeAlias, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from pydantic import WithJsonSchema as Schema

from rc_mcp.models import Stream
from rc_mcp.times import MAX_MS, MILLISECOND, from_ms, parse_iso, to_ms

DEFAULT_COUNT = 50
MAX_COUNT = 500
MAX_OFFSET = 100_000
DEFAULT_CHARS = 24_000
MIN_CHARS = 1_000
MAX_CHARS = 200_000
DEFAULT_CATCH_UP_ITEMS = 200
MAX_CATCH_UP_ITEMS = 1000
DEFAULT_CHECKPOINT = "default"
MAX_ROOM_CHARS = 256
# A time this far past the local clock is a mistake, not a position (server clocks drift by less).
FUTURE_TOLERANCE = timedelta(days=1)
CHECKPOINT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"

Mode = Literal["last_update", "next", "previous"]

# Sort fields each stream accepts: the wire name and our output name mean the same thing.
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

# Spellings agents borrow from the endpoint or from other chat APIs, and what this server calls them.
KNOWN_MISSPELLINGS = {
    "roomId": "room_id",
    "rid": "room_id",
    "room": "room_id",
    "roomName": "room_id",
    "room_name": "room_id",
    "channel": "room_id",
    "lastUpdate": "last_update",
    "updatedSince": "last_update",
    "limit": "count",
    "page_size": "count",
    "cursor": "next",
    "after": "next",
    "before": "previous",
    "skip": "offset",
    "maxChars": "max_chars",
    "maxItems": "max_items",
    "limit_items": "max_items",
}


class ArgumentError(ValueError):
    """A tool argument breaks one of the rules; the message says what to send instead."""


# --- value checks, used by the models below ------------------------------------------------------


def _now_ms(info: ValidationInfo) -> int | None:
    context = info.context if isinstance(info.context, Mapping) else {}
    now = context.get("now_ms")
    return now if isinstance(now, int) else None


def _whole(value: object) -> object:
    """Whole numbers as JSON numbers or ASCII digit strings (some hosts send every value as a string)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise ValueError("is not a whole number")


def _room(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _not_future(moment: datetime, name: str, info: ValidationInfo) -> datetime:
    now = _now_ms(info)
    if now is not None and to_ms(moment) > now + FUTURE_TOLERANCE // MILLISECOND:
        raise ValueError(f"is in the future: {name} must be a time that has passed")
    return moment


def _date_time(name: str, example: str) -> Any:
    def check(value: object, info: ValidationInfo) -> datetime | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError(f"is not an ISO-8601 date-time: send e.g. {example!r}")
        text = value.strip()
        if text.isascii() and text.isdigit():
            raise ValueError(
                f"looks like a millisecond cursor, not a date-time: send it as next={text!r} "
                f"instead, or send {name} as ISO-8601 such as {example!r}"
            )
        moment = parse_iso(text)
        if moment is None or to_ms(moment) < 0:
            raise ValueError(
                f"is not a valid ISO-8601 date-time after 1970: send e.g. {example!r} (no offset means UTC)"
            )
        return _not_future(moment, name, info)

    return BeforeValidator(check)


def _cursor(value: object, info: ValidationInfo) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("is not a cursor: send the digits of a next_cursor/previous_cursor from an earlier result")
    text = str(value).strip()
    # str.isdigit() also accepts other scripts' digits ('١٢٣'), which no server reads as a number.
    if text.isascii() and text.isdigit():
        if len(text) > 16 or int(text) > MAX_MS:
            raise ValueError("is past the largest date a server can hold: send a cursor from an earlier result")
        return to_ms(_not_future(from_ms(int(text)), "a cursor", info))
    if isinstance(value, int):
        raise ValueError("is negative: send a cursor from an earlier result, or 0")
    # An ISO time sent raw would make real servers read only its year as milliseconds and sync
    # from 1970, so convert it here instead.
    moment = parse_iso(text)
    if moment is None or to_ms(moment) < 0:
        raise ValueError(
            "is not a cursor: send the digits of a next_cursor/previous_cursor from an earlier result "
            "(milliseconds since 1970, e.g. '1763629200000'), or an ISO-8601 date-time after 1970"
        )
    return to_ms(_not_future(moment, "a cursor", info))


def _sort(stream: Stream) -> Any:
    allowed = SORT_FIELDS[stream]
    names = ", ".join(allowed)

    def check(value: object) -> tuple[tuple[str, int], ...] | None:
        if value is None or value == "" or value == {}:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                value = None
        if not isinstance(value, dict):
            raise ValueError(f'must be an object of field → 1 or -1, e.g. {{"ts": -1}}; fields: {names}')
        order = []
        for field, direction in value.items():
            if field not in allowed:
                raise ValueError(f"names field {str(field)[:40]!r}, which is not supported here: use {names}")
            if isinstance(direction, bool) or direction not in (1, -1):
                raise ValueError(f"gives {field!r} the direction {str(direction)[:20]!r}: send 1 or -1")
            order.append((allowed[field], int(direction)))
        return tuple(order)

    return BeforeValidator(check)


def _number(low: int, high: int, description: str) -> Any:
    return Annotated[
        Annotated[int, Field(ge=low, le=high)] | None, BeforeValidator(_whole), Field(description=description)
    ]


# --- the arguments of each tool ----------------------------------------------------------------

RoomId = Annotated[
    str,
    BeforeValidator(_room),
    Field(
        min_length=1,
        max_length=MAX_ROOM_CHARS,
        description="The room's id (e.g. 'GENERAL'), or its unique name as '#general' (or 'general').",
    ),
]
LastUpdate = Annotated[
    datetime | None,
    _date_time("last_update", "2026-11-20T09:00:00Z"),
    Schema({"type": ["string", "null"], "format": "date-time"}),
    Field(
        description="ISO-8601 date-time, e.g. '2026-11-20T09:00:00Z' (no offset means UTC). Returns "
        "everything changed after it, oldest change first. Not together with next/previous."
    ),
]
_CURSOR_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*(\d{1,16}|\d{4}-\d\d-\d\d.*)\s*$"},
        {"type": "integer", "minimum": 0, "maximum": MAX_MS},
        {"type": "null"},
    ]
}
Next = Annotated[
    int | None,
    BeforeValidator(_cursor),
    Schema(_CURSOR_SCHEMA),
    Field(
        description="Cursor to read forward (oldest change first): milliseconds since 1970 as digits, e.g. the "
        "next_cursor of an earlier result; '0' = from the beginning. An ISO date-time is also accepted."
    ),
]
Previous = Annotated[
    int | None,
    BeforeValidator(_cursor),
    Schema(_CURSOR_SCHEMA),
    Field(
        description="Cursor to read backward (newest change first): milliseconds since 1970 as digits, e.g. the "
        "previous_cursor of an earlier result. An ISO date-time is also accepted."
    ),
]
if TYPE_CHECKING:
    Count: TypeAlias = int | None
    Offset: TypeAlias = int | None
    MaxChars: TypeAlias = int | None
    MaxItems: TypeAlias = int | None
    UpdatedSort: TypeAlias = tuple[tuple[str, int], ...] | None
    DeletedSort: TypeAlias = tuple[tuple[str, int], ...] | None
else:
    Count = _number(
        1,
        MAX_COUNT,
        f"Most items to return, 1-{MAX_COUNT} (default {DEFAULT_COUNT}). A page can hold a few more when several "
        "items share one millisecond, so none is lost between pages.",
    )
    Offset = _number(0, MAX_OFFSET, f"Items to skip from the start before returning count items, 0-{MAX_OFFSET}.")
    MaxChars = _number(
        MIN_CHARS,
        MAX_CHARS,
        f"Output budget: about how many characters of text one answer may hold, {MIN_CHARS}-{MAX_CHARS} "
        f"(default {DEFAULT_CHARS}). Items past it come with the next call.",
    )
    MaxItems = _number(
        1,
        MAX_CATCH_UP_ITEMS,
        f"Most changes to show in this call, 1-{MAX_CATCH_UP_ITEMS} (default {DEFAULT_CATCH_UP_ITEMS}): per "
        "stream (changed, deleted) for one room, in all for every room. The rest waits for the next call.",
    )


def _sort_schema(stream: Stream, example: str, default: str) -> Any:
    fields = SORT_FIELDS[stream]
    return Annotated[
        tuple[tuple[str, int], ...] | None,
        _sort(stream),
        Schema(
            {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {name: {"enum": [1, -1]} for name in fields},
                        "additionalProperties": False,
                    },
                    {"type": "string"},
                    {"type": "null"},
                ]
            }
        ),
        Field(
            description="Order of the returned items: an object of field → 1 (ascending) or -1 (descending), "
            f"e.g. {example}. Fields: {', '.join(fields)}. Default: {default}."
        ),
    ]


class ToolArguments(BaseModel):
    """Common to every tool: unknown argument names are refused, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class StreamArguments(ToolArguments):
    """``sync_messages`` and ``list_deleted``: a room and exactly one starting point."""

    stream: ClassVar[Stream]

    room_id: RoomId
    last_update: LastUpdate = None
    next: Next = None
    previous: Previous = None
    count: Count = None
    offset: Offset = None
    max_chars: MaxChars = None
    # Each stream tool declares its own sort fields.
    sort: tuple[tuple[str, int], ...] | None = None

    @model_validator(mode="after")
    def _one_starting_point(self) -> Self:
        given = [name for name in ("last_update", "next", "previous") if getattr(self, name) is not None]
        if "last_update" in given and len(given) > 1:
            raise ArgumentError(
                f"last_update cannot be combined with {' or '.join(given[1:])}: send last_update alone to get "
                "everything changed since a time, or a cursor alone to page from a point"
            )
        if len(given) > 1:
            raise ArgumentError(
                "next and previous cannot be sent together: send next to read forward (newer changes) "
                "or previous to read backward (older changes)"
            )
        if not given:
            raise ArgumentError(
                "one of last_update, next or previous is required: send last_update (ISO-8601, e.g. "
                "'2026-11-20T09:00:00Z') for everything changed since then, or next='0' to read the room's "
                "changes from the beginning, or a next/previous cursor from an earlier result"
            )
        return self


if not TYPE_CHECKING:
    UpdatedSort = _sort_schema("updated", '{"ts": -1}', "by time sent, oldest first (newest first with previous)")
    DeletedSort = _sort_schema("deleted", '{"_deletedAt": -1}', "oldest deletion first (newest first with previous)")


class UpdatedArguments(StreamArguments):
    stream: ClassVar[Stream] = "updated"
    sort: UpdatedSort = None


class DeletedArguments(StreamArguments):
    stream: ClassVar[Stream] = "deleted"
    sort: DeletedSort = None


class CatchUpArguments(ToolArguments):
    room_id: Annotated[
        Annotated[str, Field(min_length=1, max_length=MAX_ROOM_CHARS)] | None,
        BeforeValidator(_room),
        Field(
            description="The room's id (e.g. 'GENERAL') or its unique name as '#general'. Leave it out to catch "
            "up on every room the account is in (DMs and mentions first)."
        ),
    ] = None
    checkpoint: Annotated[
        str | None,
        Field(
            pattern=CHECKPOINT_PATTERN,
            description="Name of this look-out: 1-64 letters, digits, '.', '_' or '-' "
            f"(default '{DEFAULT_CHECKPOINT}').",
        ),
    ] = None
    since: Annotated[
        datetime | None,
        _date_time("since", "2026-11-20T09:00:00Z"),
        Schema({"type": ["string", "null"], "format": "date-time"}),
        Field(description="Only for a new checkpoint: ISO-8601 time to start from (default: 24 hours ago)."),
    ] = None
    max_items: MaxItems = None
    max_chars: MaxChars = None


class ListRoomsArguments(ToolArguments):
    query: Annotated[
        str | None,
        Field(max_length=MAX_ROOM_CHARS, description="Only rooms whose name contains this (any case), e.g. 'support'."),
    ] = None
    count: Count = None
    offset: Offset = None


MAX_QUERY_CHARS = 200
DEFAULT_HITS = 20
MAX_HITS = 100

if TYPE_CHECKING:
    Hits: TypeAlias = int | None
else:
    Hits = _number(1, MAX_HITS, f"Most messages to return, 1-{MAX_HITS} (default {DEFAULT_HITS}), best match first.")


class SearchArguments(ToolArguments):
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description='Words and "quoted phrases" that must all occur (any case, accents ignored), e.g. '
            "'deploy \"error budget\"'. Operators such as OR or * are plain words here.",
        ),
    ]
    room_id: Annotated[
        Annotated[str, Field(min_length=1, max_length=MAX_ROOM_CHARS)] | None,
        BeforeValidator(_room),
        Field(description="Only this room: its id or '#name'. Leave it out to search every room rc-mcp has seen."),
    ] = None
    count: Hits = None
    offset: Offset = None


# --- parsing -----------------------------------------------------------------------------------

ArgumentsT = TypeVar("ArgumentsT", bound=ToolArguments)


def parse(model: type[ArgumentsT], raw: Mapping[str, Any], *, now_ms: int | None = None) -> ArgumentsT:
    """Validate one call's arguments; an ArgumentError says every broken rule (at most three)."""
    try:
        return model.model_validate(dict(raw), context={"now_ms": now_ms})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown name first: "roomId" explains the missing room_id that follows it.
        errors.sort(key=lambda error: error.get("type") != "extra_forbidden")
        problems = [_explain(model, error) for error in errors]
        raise ArgumentError("; ".join(dict.fromkeys(problems[:3]))) from None


def _explain(model: type[ToolArguments], error: Any) -> str:
    location = error.get("loc") or ()
    name = str(location[0]) if location else ""
    kind = error.get("type", "")
    shown = _shown(error.get("input"))
    if kind == "extra_forbidden":
        return f"unknown argument {name[:40]!r}: {_suggest(model, name)}"
    if name == "room_id" and kind in ("missing", "string_too_short", "too_short"):
        return "room_id is required: send the room's id (e.g. 'GENERAL' or 'hQ3vRzq5XbHgxF8mz') or its name as '#name'"
    if kind == "missing":
        return f"{name} is required: {_describe(model, name)}"
    if kind == "value_error":
        cause = error.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else str(error.get("msg", ""))
        if isinstance(cause, ArgumentError) or not name:
            return message
        return f"{name}={shown} {message}"
    low, high = _bounds(model, name)
    if kind in ("greater_than_equal", "less_than_equal") and low is not None:
        return f"{name}={shown} is out of range: send a whole number from {low} to {high}"
    if kind in ("string_too_long", "too_long"):
        return f"{name} is too long ({len(str(error.get('input')))} characters): at most {high} are accepted"
    if kind == "string_pattern_mismatch" and name == "checkpoint":
        return f"checkpoint={shown} is not a valid name: use 1-64 letters, digits, '.', '_' or '-', e.g. 'daily-digest'"
    return f"{name}={shown} is not accepted: {_describe(model, name)}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


@cache
def _schema(model: type[ToolArguments]) -> dict[str, Any]:
    return model.model_json_schema()


def _bounds(model: type[ToolArguments], name: str) -> tuple[Any, Any]:
    field = _schema(model).get("properties", {}).get(name, {})
    for option in [field, *field.get("anyOf", [])]:
        if "minimum" in option or "maximum" in option or "maxLength" in option:
            return option.get("minimum"), option.get("maximum", option.get("maxLength"))
    return None, None


def _describe(model: type[ToolArguments], name: str) -> str:
    description = _schema(model).get("properties", {}).get(name, {}).get("description")
    return str(description) if description else "see the tool's input schema"


def _suggest(model: type[ToolArguments], name: str) -> str:
    fields = list(model.model_fields)
    target = KNOWN_MISSPELLINGS.get(name)
    if target is None:
        import difflib  # only for a misspelt argument: kept out of start-up

        close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
        target = close[0] if close else None
    if target in fields:
        return f"this tool calls it {target}"
    return f"this tool takes {', '.join(fields)}"


# --- plans ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncPlan:
    """A validated stream request: where to start reading and how to cut the answer for the agent."""

    stream: Stream
    room_id: str
    mode: Mode
    # The exclusive starting position in milliseconds: after it (last_update, next) or before it (previous).
    position: int
    count: int
    offset: int
    sort: tuple[tuple[str, int], ...] | None
    max_chars: int

    @property
    def forward(self) -> bool:
        return self.mode != "previous"

    def continuation(self, position: int) -> dict[str, Any]:
        """The exact arguments of the call that goes on from ``position`` (the agent's next call)."""
        args: dict[str, Any] = {"room_id": self.room_id, "next" if self.forward else "previous": str(position)}
        if self.count != DEFAULT_COUNT:
            args["count"] = self.count
        if self.sort is not None:
            reverse = {value: key for key, value in SORT_FIELDS[self.stream].items()}
            args["sort"] = {reverse[field]: direction for field, direction in self.sort}
        if self.max_chars != DEFAULT_CHARS:
            args["max_chars"] = self.max_chars
        return args


def plan(arguments: StreamArguments, room_id: str | None = None) -> SyncPlan:
    """The plan of a validated call; ``room_id`` replaces a room name once it is resolved."""
    if arguments.last_update is not None:
        mode: Mode = "last_update"
        position = to_ms(arguments.last_update)
    elif arguments.next is not None:
        mode, position = "next", arguments.next
    else:
        assert arguments.previous is not None
        mode, position = "previous", arguments.previous
    return SyncPlan(
        stream=arguments.stream,
        room_id=room_id or arguments.room_id,
        mode=mode,
        position=position,
        count=arguments.count or DEFAULT_COUNT,
        offset=arguments.offset or 0,
        sort=arguments.sort,
        max_chars=arguments.max_chars or DEFAULT_CHARS,
    )
