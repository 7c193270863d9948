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

from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from rc_mcp.emulator.jsdate import date_parse
from rc_mcp.emulator.syncmessages import Answer, Query, Router, js_string, meteor_error, schema_error
from rc_mcp.emulator.workspace import Doc, Workspace

# The caller's listing from a millisecond (None: everything): (update, remove).
Listing = Callable[[int | None], tuple[list[Doc], list[Doc]]]


def validate_subscriptions_query(query: Query, router: Router) -> Answer | None:
    """The ``isSubscriptionsGetProps`` schema: ``{updatedSince: string|null}``, nothing else."""
    if any(key != "updatedSince" for key in query):
        return schema_error("must NOT have additional properties", router)
    if "updatedSince" in query and not isinstance(query["updatedSince"], str):
        return schema_error("must be string", router)
    return None


def subscriptions_get(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    """After the schema: an empty ``updatedSince`` counts as absent (``if (updatedSince)``, rooms §1.1)."""
    return _delta(
        lambda since: workspace.subscriptions_of(user_id, updated_since=since),
        query.get("updatedSince"),
        server_tz,
        'The "lastUpdate" query parameter must be a valid date.',
        "error-roomId-param-invalid",
    )


def rooms_get(workspace: Workspace, user_id: str, query: Query, *, server_tz: tzinfo = UTC) -> Answer:
    return _delta(
        lambda since: workspace.rooms_of(user_id, updated_since=since),
        query.get("updatedSince"),
        server_tz,
        'The "updatedSince" query parameter must be a valid date.',
        "error-updatedSince-param-invalid",
    )


def _delta(listing: Listing, value: Any, server_tz: tzinfo, reason: str, code: str) -> Answer:
    """``{update, remove}`` since ``updatedSince`` (absent or empty: everything), or the 400 for
    ``isNaN(Date.parse(...))``."""
    since = date_parse(js_string(value), server_tz) if value else None
    if value and since is None:
        return meteor_error(reason, code)
    update, remove = listing(since)
    return 200, {"update": update, "remove": remove, "success": True}
