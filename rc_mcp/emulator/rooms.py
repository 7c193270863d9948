"""``GET /api/v1/subscriptions.get`` and ``GET /api/v1/rooms.get`` (docs/research/rocketchat-rooms.md).

Both list everything the caller is subscribed to, with no pagination, as
``{update: [...], remove: [...], success: true}``; ``updatedSince`` turns them into a delta
(strictly newer ``_updatedAt``, plus removals since). Their differences are faithful to upstream:

* ``subscriptions.get`` has a query schema (only ``updatedSince``; anything else is a 400
  ``invalid-params``) and reports a bad date with the ``lastUpdate`` string and the code
  ``error-roomId-param-invalid`` (sic, rooms §1.2);
* ``rooms.get`` has no schema (unknown keys are ignored) and reports a bad date as
  ``error-updatedSince-param-invalid`` (rooms §2.1); its ``remove`` lists every room erased
  server-wide, and leaving a room does not put it there (rooms §2.2).
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any

from rc_mcp.emulator.jsdate import date_parse
from rc_mcp.emulator.syncmessages import Answer, Query, Router, js_string, meteor_error, schema_error
from rc_mcp.emulator.workspace import Workspace


def validate_subscriptions_query(query: Query, router: Router) -> Answer | None:
    """The ``isSubscriptionsGetProps`` schema: ``{updatedSince: string|null}``, nothing else."""
    if any(key != "updatedSince" for key in query):
        return schema_error("must NOT have additional properties", router)
    if "updatedSince" in query and not isinstance(query["updatedSince"], str):
        return schema_error("must be string", router)
    return None


def subscriptions_get(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    """After the schema: an empty ``updatedSince`` counts as absent (``if (updatedSince)``, rooms §1.1)."""
    since, failure = _since(
        query.get("updatedSince"),
        server_tz,
        'The "lastUpdate" query parameter must be a valid date.',
        "error-roomId-param-invalid",
    )
    if failure is not None:
        return failure
    update, remove = workspace.subscriptions_of(user_id, updated_since=since)
    return 200, {"update": update, "remove": remove, "success": True}


def rooms_get(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    since, failure = _since(
        query.get("updatedSince"),
        server_tz,
        'The "updatedSince" query parameter must be a valid date.',
        "error-updatedSince-param-invalid",
    )
    if failure is not None:
        return failure
    update, remove = workspace.rooms_of(user_id, updated_since=since)
    return 200, {"update": update, "remove": remove, "success": True}


def _since(value: Any, server_tz: tzinfo, reason: str, code: str) -> tuple[int | None, Answer | None]:
    """``updatedSince`` as ms, None when absent or empty, or the 400 for ``isNaN(Date.parse(...))``."""
    if not value:
        return None, None
    since = date_parse(js_string(value), server_tz)
    if since is None:
        return None, meteor_error(reason, code)
    return since, None
