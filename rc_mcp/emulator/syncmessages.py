"""``GET /api/v1/chat.syncMessages`` as Rocket.Chat 7.1–8.x implements it (reference §2–§5, §9).

``validate_query`` is the Ajv schema step; ``handle`` is the route handler plus
``getMessageHistory``. Both return ``(status, body)`` and never raise for bad input.
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
_STRINGS = ("roomId", "lastUpdate", "next", "previous")
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


def validate_query(query: Query, router: Router = "legacy") -> tuple[Query | None, Answer | None]:
    """Ajv with ``coerceTypes``: returns the coerced query, or the 400 answer for the first error."""
    if "roomId" not in query:
        return None, schema_error("must have required property 'roomId'", router)
    if any(key not in _PROPERTIES for key in query):
        return None, schema_error("must NOT have additional properties", router)
    coerced: Query = {}
    for name in _PROPERTIES:
        if name not in query:
            continue
        value = query[name]
        if name in _STRINGS:
            if not isinstance(value, str):
                return None, schema_error("must be string", router)
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
        return 200, {"result": _last_update_mode(workspace, room_id, since), "success": True}
    if not (next_cursor or previous_cursor):
        # `type` alone falls through to the channel-history helper, whose result has neither list.
        return 200, {"result": {"updated": [], "deleted": []}, "success": True}
    return _cursor_mode(workspace, room_id, sync_type or "UPDATED", next_cursor, previous_cursor, count)


def _last_update_mode(workspace: Workspace, room_id: str, since: int) -> Doc:
    updated = workspace.find_updates(room_id, gt=since, sort_key="ts", descending=True)
    deleted = workspace.find_deleted(room_id, gt=since, sort_key="ts", descending=True)
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
