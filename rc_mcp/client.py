"""A small async client for the Rocket.Chat REST endpoints rc-mcp uses.

It owns the HTTP details (one shared ``httpx.AsyncClient``, timeouts, auth headers) and maps every
answer in the server's error table to an exception from :mod:`rc_mcp.errors`. It never sends a
request the server is known to reject: ``offset``/``sort`` are not parameters here, cursors are
integers, and ``type`` is mandatory with a cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

import httpx

from rc_mcp import __version__
from rc_mcp.config import Settings
from rc_mcp.errors import (
    AuthenticationFailed,
    InvalidParams,
    NotAllowed,
    RateLimited,
    RequestRejected,
    RocketChatError,
    RoomArchived,
    RoomNotFound,
    ServerUnreachable,
    UnexpectedResponse,
    wait_seconds_until,
)

JsonObject = dict[str, Any]

SYNC_MESSAGES_PATH = "/api/v1/chat.syncMessages"

# Strings a server sends for a query-schema failure: 7.1–8.x legacy routes, then 8.8+ typed routes.
_INVALID_PARAMS_TYPES = frozenset({"invalid-params", "error-invalid-params"})


class SyncType(StrEnum):
    """Which stream of ``chat.syncMessages`` a cursor call reads."""

    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class RateLimit:
    """The ``X-RateLimit-*`` headers of one answer."""

    limit: int
    remaining: int
    reset_at_ms: int


@dataclass(frozen=True)
class SyncResponse:
    """One answer of ``chat.syncMessages``, still in wire shape (dicts as the server sent them)."""

    updated: list[JsonObject]
    deleted: list[JsonObject]
    # Cursor mode only: digit strings, or None where the server said null. Absent in lastUpdate mode.
    cursor_next: str | None
    cursor_previous: str | None
    rate_limit: RateLimit | None


def format_last_update(moment: datetime) -> str:
    """``lastUpdate`` as the server should get it: UTC with a ``Z``, millisecond precision.

    Real servers parse a time without an offset in their own time zone, so we never send one.
    """
    if moment.tzinfo is None:
        raise ValueError("last_update must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RocketChatClient:
    """Async client for the few Rocket.Chat endpoints rc-mcp needs; use it as an async context manager."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.url,
            transport=transport,
            timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            headers={
                "X-User-Id": settings.user_id,
                "X-Auth-Token": settings.auth_token.get_secret_value(),
                "Accept": "application/json",
                "User-Agent": f"rc-mcp/{__version__}",
            },
            follow_redirects=False,
        )
        # The X-RateLimit-* headers last seen, per path: each route has its own window.
        self.rate_limits: dict[str, RateLimit] = {}

    def __repr__(self) -> str:
        return f"RocketChatClient(url={self._settings.url!r}, user_id={self._settings.user_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def sync_messages(
        self,
        *,
        room_id: str,
        last_update: datetime | None = None,
        type: SyncType | None = None,
        next: int | None = None,
        previous: int | None = None,
        count: int | None = None,
    ) -> SyncResponse:
        """``GET /api/v1/chat.syncMessages`` (https://developer.rocket.chat/apidocs/sync-messages).

        Either ``last_update`` alone, or ``type`` with exactly one of ``next``/``previous``.
        """
        if not room_id:
            raise ValueError("room_id is required")
        cursor_mode = next is not None or previous is not None
        if cursor_mode == (last_update is not None):
            raise ValueError("pass either last_update or one cursor (next/previous)")
        if next is not None and previous is not None:
            raise ValueError("pass next or previous, not both")
        if cursor_mode and type is None:
            raise ValueError("type is required with next/previous")
        if count is not None and count < 1:
            raise ValueError("count must be positive")

        params: dict[str, str] = {"roomId": room_id}
        if last_update is not None:
            params["lastUpdate"] = format_last_update(last_update)
        else:
            params["type"] = str(type)
            for name, cursor in (("next", next), ("previous", previous)):
                if cursor is not None:
                    if cursor < 0:
                        raise ValueError(f"{name} must be a non-negative millisecond timestamp")
                    params[name] = str(cursor)
            if count is not None:
                params["count"] = str(count)

        body, rate_limit = await self._get(SYNC_MESSAGES_PATH, params)
        result = body.get("result")
        if not isinstance(result, dict):
            raise UnexpectedResponse("chat.syncMessages answered without a 'result' object.")
        updated = _list_of_objects(result.get("updated"), "updated")
        deleted = _list_of_objects(result.get("deleted"), "deleted")
        cursor = result.get("cursor")
        cursor_next = cursor_previous = None
        if isinstance(cursor, dict):
            cursor_next = _cursor_value(cursor.get("next"))
            cursor_previous = _cursor_value(cursor.get("previous"))
        return SyncResponse(updated, deleted, cursor_next, cursor_previous, rate_limit)

    async def room_info(self, *, room_id: str | None = None, room_name: str | None = None) -> JsonObject:
        """``GET /api/v1/rooms.info`` by id or unique name; returns the ``room`` object."""
        if (room_id is None) == (room_name is None):
            raise ValueError("pass exactly one of room_id or room_name")
        params = {"roomId": room_id} if room_id is not None else {"roomName": room_name or ""}
        body, _ = await self._get("/api/v1/rooms.info", params)
        room = body.get("room")
        if not isinstance(room, dict) or not isinstance(room.get("_id"), str):
            raise UnexpectedResponse("rooms.info answered without a room.")
        return room

    async def me(self) -> JsonObject:
        """``GET /api/v1/me``: the authenticated user; a cheap credentials check."""
        body, _ = await self._get("/api/v1/me", {})
        return body

    async def server_info(self) -> JsonObject:
        """``GET /api/info``: server version (no authentication needed)."""
        body, _ = await self._get("/api/info", {})
        return body

    async def _get(self, path: str, params: dict[str, str]) -> tuple[JsonObject, RateLimit | None]:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"Rocket.Chat at {self._settings.url} did not answer within {self._settings.timeout:g} s "
                f"({type(exc).__name__}). Retry later; if it persists, the room may be very large: "
                "use a cursor (next/previous) with a smaller count instead of last_update."
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"Could not reach Rocket.Chat at {self._settings.url} ({type(exc).__name__}). "
                "Check ROCKETCHAT_URL and the network, then retry."
            ) from None
        rate_limit = _rate_limit(response.headers)
        if rate_limit is not None:
            self.rate_limits[path] = rate_limit
        body = _json_object(response)
        if response.status_code == 200 and body is not None and body.get("success") is not False:
            return body, rate_limit
        raise _error_for(response, body, rate_limit)


def _error_for(response: httpx.Response, body: JsonObject | None, rate_limit: RateLimit | None) -> RocketChatError:
    status = response.status_code
    error = body.get("error") if body else None
    message = error if isinstance(error, str) and error else None
    if status == 401:
        fallback = body.get("message") if body else None
        return AuthenticationFailed(message or (fallback if isinstance(fallback, str) else "unauthorized"))
    if status == 429:
        reset = rate_limit.reset_at_ms if rate_limit else None
        return RateLimited(message or "too many requests", reset, wait_seconds_until(reset, int(time.time() * 1000)))
    if status == 400 and body is not None:
        raw_type = body.get("errorType")
        error_type = raw_type if isinstance(raw_type, str) else None
        text = message or "no error message"
        if error_type in _INVALID_PARAMS_TYPES:
            return InvalidParams(text, error_type)
        if error_type == "error-not-allowed" or (text == "not-allowed" and error_type == "Not Allowed"):
            return NotAllowed(text, error_type)
        if error_type == "error-room-not-found":
            return RoomNotFound(text, error_type)
        if error_type == "error-room-archived":
            return RoomArchived(text, error_type)
        return RequestRejected(text, error_type)
    if body is None:
        kind = response.headers.get("content-type", "no content type")
        return UnexpectedResponse(
            f"Rocket.Chat answered HTTP {status} with a non-JSON body ({kind}). "
            "Check that ROCKETCHAT_URL points at the Rocket.Chat server itself, not a proxy login page; "
            "if the server is restarting, retry in a minute."
        )
    return UnexpectedResponse(
        f"Rocket.Chat answered HTTP {status}: {message or 'no error message'}. "
        "This is a server-side problem; retry later."
    )


def _json_object(response: httpx.Response) -> JsonObject | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _rate_limit(headers: httpx.Headers) -> RateLimit | None:
    try:
        return RateLimit(
            limit=int(headers["X-RateLimit-Limit"]),
            remaining=int(headers["X-RateLimit-Remaining"]),
            reset_at_ms=int(headers["X-RateLimit-Reset"]),
        )
    except (KeyError, ValueError):
        return None


def _list_of_objects(value: object, name: str) -> list[JsonObject]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UnexpectedResponse(f"chat.syncMessages answered with a malformed '{name}' list.")
    return value


def _cursor_value(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit():
        raise UnexpectedResponse(f"chat.syncMessages answered with a non-numeric cursor {text!r}.")
    return text
