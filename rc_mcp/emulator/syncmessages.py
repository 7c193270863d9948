"""``GET /api/v1/chat.syncMessages`` as Rocket.Chat 7.1–8.x implements it (reference §2–§5, §9).

``validate_query`` is the Ajv schema step; ``handle`` is the route handler plus
``getMessageHistory``. ``handle_before_cursors`` is the whole route of 6.x–7.0 (no schema, research:
versions §1). All return ``(status, body)`` and never raise for bad input.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo
from typing import Any, Literal

from rc_mcp.emulator.jsdate import date_parse, parse_int, valid_date_ms
from rc_mcp.emulator.workspace import Doc, Workspace

Query = dict[str, Any]
Answer = tuple[int, Doc]
Router = Literal["legacy", "typed"]

# Property order of ChatSyncMessagesSchema; Ajv reports the first failing property.
_PROPERTIES = ("roomId", "lastUpdate", "count", "next", "previous", "type")
# 8.8 adds fromTs; its place in the schema is not known, the handler reads it after lastUpdate
# (research: versions §3), which only matters when two properties are wrong at once.
_PROPERTIES_8_8 = ("roomId", "lastUpdate", "fromTs", "count", "next", "previous", "type")
_STRINGS = ("roomId", "lastUpdate", "next", "previous", "fromTs")
# ajv-formats "iso-date-time": a date, T or a space, a time, an optional zone (research: versions §3).
_ISO_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt\s](\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)([Zz]|[+-](\d{2})(?::?(\d{2}))?)?$"
)
_JS_NUMBER = re.compile(r"^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)\s*$")
DEFAULT_COUNT = 20


def meteor_error(reason: str, code: str, details: Doc | None = None) -> Answer:
    """The 400 body of a ``Meteor.Error(code, reason)`` thrown in a route."""
    body: Doc = {"success": False, "error": f"{reason} [{code}]", "errorType": code}
    if details is not None:
        body["details"] = details
    return 400, body


def schema_error(message: str, router: Router) -> Answer:
    if router == "typed":
        return 400, {"success": False, "errorType": "error-invalid-params", "error": message}
    return 400, {"success": False, "error": f"{message} [invalid-params]", "errorType": "invalid-params"}


def validate_query(
    query: Query, router: Router = "legacy", *, from_ts: bool = False
) -> tuple[Query | None, Answer | None]:
    """Ajv with ``coerceTypes``: returns the coerced query, or the 400 answer for the first error.

    ``from_ts``: the 8.8 schema, which also has ``fromTs`` (a string of format iso-date-time).
    """
    properties = _PROPERTIES_8_8 if from_ts else _PROPERTIES
    if "roomId" not in query:
        return None, schema_error("must have required property 'roomId'", router)
    if any(key not in properties for key in query):
        return None, schema_error("must NOT have additional properties", router)
    coerced: Query = {}
    for name in properties:
        if name not in query:
            continue
        value = query[name]
        if name in _STRINGS:
            if not isinstance(value, str):
                return None, schema_error("must be string", router)
            if name == "fromTs" and not is_iso_date_time(value):
                return None, schema_error('must match format "iso-date-time"', router)
            coerced[name] = value
        elif name == "count":
            if value == "":
                coerced[name] = None  # nullable: coerced to null, then the default applies
            elif isinstance(value, str) and _JS_NUMBER.match(value):
                number = float(int(value, 16)) if value.strip().lower().startswith("0x") else float(value)
                coerced[name] = int(number) if number.is_integer() else number
            else:
                return None, schema_error("must be number", router)
        elif value not in ("UPDATED", "DELETED"):
            return None, schema_error("must be equal to one of the allowed values", router)
        else:
            coerced[name] = value
    return coerced, None


def is_iso_date_time(text: str) -> bool:
    """ajv-formats' ``iso-date-time``: like ``date-time`` but the zone may be left out."""
    match = _ISO_DATE_TIME.match(text)
    if match is None:
        return False
    year, month, day, hour, minute = (int(match[i]) for i in range(1, 6))
    second = float(match[6])
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30]
    days += [31, 31, 30, 31, 30, 31]
    if not (1 <= month <= 12 and 1 <= day <= days[month - 1]):
        return False
    if int(match[8] or 0) > 23 or int(match[9] or 0) > 59:
        return False
    # Leap seconds (23:59:60 UTC) are allowed by ajv-formats; nobody sends them.
    return hour <= 23 and minute <= 59 and second < 60


def handle(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    """The handler and ``getMessageHistory``, after the schema step passed."""
    room_id: str = query["roomId"]
    last_update: str | None = query.get("lastUpdate")
    sync_type: str | None = query.get("type")
    if not room_id:
        return meteor_error('The required "roomId" query param is missing', "error-param-required")
    if not last_update and not sync_type:
        return meteor_error('The "type" or "lastUpdate" parameters must be provided', "error-param-required")
    since = None
    if last_update:
        since = date_parse(last_update, server_tz)
        if since is None:
            return meteor_error(
                'The "lastUpdate" query parameter must be a valid date', "error-lastUpdate-param-invalid"
            )
    # The handler copies these only when truthy.
    next_cursor = query.get("next") or None
    previous_cursor = query.get("previous") or None
    count = query.get("count") or None

    if not workspace.can_access(user_id, room_id):
        return meteor_error("Not allowed", "error-not-allowed", {"method": "messages/get"})
    if (next_cursor or previous_cursor) and not sync_type:
        return meteor_error(
            'The "type" parameter is required when using the "next" or "previous" parameters',
            "error-type-param-required",
        )
    if next_cursor and previous_cursor:
        return meteor_error('You cannot provide both "next" and "previous" parameters', "error-cursor-conflict")
    if (next_cursor or previous_cursor) and last_update:
        return meteor_error(
            'The attributes "next", "previous" and "lastUpdate" cannot be used together',
            "error-cursor-and-lastUpdate-conflict",
        )
    if since is not None:
        ts_from = date_parse(query["fromTs"], server_tz) if query.get("fromTs") else None
        return 200, {"result": _last_update_mode(workspace, room_id, since, ts_from), "success": True}
    if not (next_cursor or previous_cursor):
        # `type` alone falls through to the channel-history helper, whose result has neither list.
        return 200, {"result": {"updated": [], "deleted": []}, "success": True}
    return _cursor_mode(workspace, room_id, sync_type or "UPDATED", next_cursor, previous_cursor, count)


def handle_before_cursors(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    """The 6.x–7.0 route (research: versions §1.1–§1.3): no schema, only ``roomId`` and ``lastUpdate``.

    Every other key (``type``, ``next``, ``count``, ``fromTs``…) is ignored. The reasons end with a
    period and an invalid date is reported with the code ``error-roomId-param-invalid`` (sic).
    """
    room_id = query.get("roomId")
    last_update = query.get("lastUpdate")
    if not room_id:  # qs gives strings, lists or objects; only "" is falsy among them
        return meteor_error('The required "roomId" query param is missing.', "error-roomId-param-not-provided")
    if not last_update:
        return meteor_error('The required "lastUpdate" query param is missing.', "error-lastUpdate-param-not-provided")
    since = date_parse(js_string(last_update), server_tz)
    if since is None:
        return meteor_error('The "lastUpdate" query parameter must be a valid date.', "error-roomId-param-invalid")
    if not isinstance(room_id, str):
        # messages/get starts with check(rid, String): a Match.Error has no .error, so no errorType
        # (Meteor's check package: "Match error: Expected string, got object").
        return 400, {"success": False, "error": "Match error: Expected string, got object"}
    if not workspace.can_access(user_id, room_id):
        return meteor_error("Not allowed", "error-not-allowed", {"method": "messages/get"})
    return 200, {"result": _last_update_mode(workspace, room_id, since), "success": True}


def js_string(value: Any) -> str:
    """``String(value)`` for what qs produces: strings, arrays (joined with commas) and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(js_string(item) for item in value)
    return "[object Object]"


def _last_update_mode(workspace: Workspace, room_id: str, since: int, ts_from: int | None = None) -> Doc:
    # fromTs (8.8): the data layer is unverified (research: versions §3); implemented as its most
    # likely reading, a lower bound ts >= fromTs on both lists, and ignored in cursor mode.
    updated = workspace.find_updates(room_id, gt=since, sort_key="ts", descending=True, ts_from=ts_from)
    deleted = workspace.find_deleted(room_id, gt=since, sort_key="ts", descending=True, ts_from=ts_from)
    return {"updated": updated, "deleted": deleted}


def _cursor_mode(
    workspace: Workspace,
    room_id: str,
    sync_type: str,
    next_cursor: str | None,
    previous_cursor: str | None,
    count: float | None,
) -> Answer:
    raw = next_cursor or previous_cursor or ""
    bound = parse_int(raw)
    if not valid_date_ms(bound):
        # A plain Error: the wrapper gives it no errorType.
        return 400, {"success": False, "error": "Invalid Date"}
    assert bound is not None
    page_size = DEFAULT_COUNT if count is None else count
    limit = _mongo_limit(page_size + 1)
    forward = next_cursor is not None
    gt, lt = (bound, None) if forward else (None, bound)
    if sync_type == "UPDATED":
        rows = workspace.find_updates(room_id, gt=gt, lt=lt, descending=not forward, limit=limit)
        stamp = "_updatedAt"
    else:
        # Quirk kept on purpose: trash pages sort by _updatedAt but are bounded by _deletedAt.
        rows = workspace.find_deleted(room_id, gt=gt, lt=lt, descending=not forward, limit=limit)
        stamp = "_deletedAt"
    more = len(rows) > page_size
    cursor: Doc
    if not rows:
        cursor = {"next": None, "previous": None}
    else:
        last_returned = rows[-2] if more and len(rows) > 1 else rows[-1]
        first = rows[0]
        if forward:
            cursor = {
                "next": _ms_of(last_returned, stamp) if more else None,
                "previous": _ms_of(first, stamp),
            }
        else:
            cursor = {
                "next": _ms_of(first, stamp),
                "previous": _ms_of(last_returned, stamp) if more else None,
            }
    if more:
        rows = rows[:-1]
    updated = rows if sync_type == "UPDATED" else []
    deleted = rows if sync_type == "DELETED" else []
    return 200, {"result": {"updated": updated, "deleted": deleted, "cursor": cursor}, "success": True}


def _mongo_limit(limit: float) -> int:
    # Mongo: 0 means no limit and a negative limit means its absolute value.
    return abs(int(limit))


def _ms_of(row: Doc, stamp: str) -> str:
    value = date_parse(str(row[stamp]))
    return str(value)
