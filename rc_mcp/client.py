"""A small async client for the Rocket.Chat REST endpoints rc-mcp uses.

It owns the HTTP details (one shared ``httpx.AsyncClient``, created on first use; timeouts; auth
headers; a size limit on every answer, counted after decompression while streaming) and maps
every answer in the server's error table to an exception from :mod:`rc_mcp.errors`. It never
sends a request the server is known to reject: ``offset``/``sort`` are not parameters here,
cursors are integers, and ``type`` is mandatory with a cursor. It never follows a redirect, so
the token never goes to another address.
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from rc_mcp import __version__
from rc_mcp.config import TIMEOUT_VAR, URL_VAR, Settings
from rc_mcp.errors import (
    AuthenticationFailed,
    InvalidParams,
    NotAllowed,
    RateLimited,
    RequestRejected,
    ResponseTooLarge,
    RocketChatError,
    RoomArchived,
    RoomNotFound,
    ServerUnreachable,
    UnexpectedResponse,
    wait_seconds_until,
)
from rc_mcp.sanitize import one_line
from rc_mcp.times import MAX_JS_MS, iso, parse_http_date

if TYPE_CHECKING:
    import ssl

    # Imported where a request is made: importing httpx (and pygments, which its CLI pulls in) costs
    # ~9 ms of start-up, and an MCP handshake sends no request.
    import httpx

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
class Answer:
    """One successful answer: its JSON body, its rate-limit headers and the server's clock."""

    body: JsonObject
    rate_limit: RateLimit | None
    # The server's HTTP Date header (ms, second precision), None when absent or malformed.
    server_ms: int | None


@dataclass(frozen=True)
class SyncQuery:
    """One ``chat.syncMessages`` request: ``last_update`` alone, or ``sync_type`` with exactly one
    cursor, ``after`` (the endpoint's ``next``) or ``before`` (its ``previous``)."""

    room_id: str
    last_update: datetime | None = None
    sync_type: SyncType | None = None
    after: int | None = None
    before: int | None = None
    count: int | None = None


@dataclass(frozen=True)
class Delta:
    """A room or subscription list (``update``), or what changed since a time and what went (``remove``)."""

    update: list[JsonObject]
    remove: list[JsonObject]


@dataclass(frozen=True)
class SyncResponse:
    """One answer of ``chat.syncMessages``, still in wire shape (dicts as the server sent them)."""

    updated: list[JsonObject]
    deleted: list[JsonObject]
    # Cursor mode only: digit strings, or None where the server said null. Absent in lastUpdate mode.
    cursor_next: str | None
    cursor_previous: str | None
    rate_limit: RateLimit | None
    server_ms: int | None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process, with httpx's default trust (certifi, or SSL_CERT_FILE and
    SSL_CERT_DIR). Building one loads the CA bundle, about 20 ms, and httpx builds one for every client
    unless given one: in a shared HTTP server that was two per new account."""
    import httpx

    return httpx.create_ssl_context()


def http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None, *, agent: str = ""
) -> httpx.AsyncClient:
    """An HTTP client for this server as this user: its timeouts and auth headers, and no redirects
    (the token must never go to another address)."""
    import httpx

    return httpx.AsyncClient(
        base_url=settings.url,
        transport=transport,
        verify=tls_context() if transport is None else True,
        timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
        headers={
            "X-User-Id": settings.user_id,
            "X-Auth-Token": settings.auth_token.get_secret_value(),
            "Accept": "application/json",
            "User-Agent": f"rc-mcp/{__version__}{agent}",
        },
        follow_redirects=False,
    )


class RocketChatClient:
    """Async client for the few Rocket.Chat endpoints rc-mcp needs; use it as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"RocketChatClient(url={self._settings.url!r}, user_id={self._settings.user_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        # Built on first use: loading the CA bundle costs ~80 ms that an MCP handshake does not need.
        if self._http is None:
            self._http = http_client(self._settings, self._transport)
        return self._http

    async def sync_messages(self, query: SyncQuery) -> SyncResponse:
        """``GET /api/v1/chat.syncMessages`` (https://developer.rocket.chat/apidocs/sync-messages)."""
        params = _sync_params(query)
        answer = await self._get(SYNC_MESSAGES_PATH, params)
        result = answer.body.get("result")
        if not isinstance(result, dict):
            raise UnexpectedResponse("chat.syncMessages answered without a 'result' object.")
        updated = _list_of_objects(result.get("updated"), "updated")
        deleted = _list_of_objects(result.get("deleted"), "deleted")
        cursor = result.get("cursor")
        cursor_next = cursor_previous = None
        if isinstance(cursor, dict):
            cursor_next = _cursor_value(cursor.get("next"))
            cursor_previous = _cursor_value(cursor.get("previous"))
        return SyncResponse(updated, deleted, cursor_next, cursor_previous, answer.rate_limit, answer.server_ms)

    async def room_info(self, *, room_id: str | None = None, room_name: str | None = None) -> JsonObject:
        """``GET /api/v1/rooms.info`` by id or unique name; returns the ``room`` object."""
        if (room_id is None) == (room_name is None):
            raise ValueError("pass exactly one of room_id or room_name")
        params = {"roomId": room_id} if room_id is not None else {"roomName": room_name or ""}
        room = (await self._get("/api/v1/rooms.info", params)).body.get("room")
        if not isinstance(room, dict) or not isinstance(room.get("_id"), str) or not room["_id"]:
            raise UnexpectedResponse("rooms.info answered without a room.")
        return room

    async def rooms_get(self, *, updated_since: datetime | None = None) -> Delta:
        """``GET /api/v1/rooms.get``: the rooms this user is subscribed to (only those changed since)."""
        return await self._delta("/api/v1/rooms.get", updated_since)

    async def subscriptions_get(self, *, updated_since: datetime | None = None) -> Delta:
        """``GET /api/v1/subscriptions.get``: this user's subscriptions (unread counts, mentions, names)."""
        return await self._delta("/api/v1/subscriptions.get", updated_since)

    async def _delta(self, path: str, updated_since: datetime | None) -> Delta:
        params = {"updatedSince": iso(updated_since)} if updated_since is not None else {}
        answer = await self._get(path, params)
        update = _list_of_objects(answer.body.get("update"), "update", path)
        remove = _list_of_objects(answer.body.get("remove"), "remove", path)
        return Delta(update, remove)

    async def me(self) -> JsonObject:
        """``GET /api/v1/me``: the authenticated user; a cheap credentials check."""
        return (await self._get("/api/v1/me", {})).body

    async def server_info(self) -> Answer:
        """``GET /api/info``: the server's version, where it tells it."""
        return await self._get("/api/info", {})

    async def _get(self, path: str, params: dict[str, str]) -> Answer:
        import httpx

        url = self._settings.url
        limit = self._settings.max_response_bytes
        try:
            async with self._client().stream("GET", path, params=params) as response:
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > limit:
                        raise ResponseTooLarge(limit)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"Rocket.Chat at {url} did not answer within {self._settings.timeout:g} s "
                f"({type(exc).__name__}). Retry later; if it keeps happening, the server is slow: ask for "
                f"fewer items at a time, or raise {TIMEOUT_VAR}."
            ) from None
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"Could not reach Rocket.Chat at {url} ({type(exc).__name__}). "
                f"Check {URL_VAR} and the network, then retry."
            ) from None
        rate_limit = _rate_limit(response.headers)
        server_ms = parse_http_date(response.headers.get("date"))
        body = _json_object(raw)
        if response.status_code == 200 and body is not None and body.get("success") is not False:
            return Answer(body, rate_limit, server_ms)
        raise _error_for(response, body, rate_limit, server_ms)


def _sync_params(query: SyncQuery) -> dict[str, str]:
    """The query string, refusing what the server is known to reject (ValueError: a bug of ours)."""
    cursors = [
        (name, cursor) for name, cursor in (("next", query.after), ("previous", query.before)) if cursor is not None
    ]
    if not query.room_id:
        raise ValueError("room_id is required")
    if bool(cursors) == (query.last_update is not None) or len(cursors) > 1:
        raise ValueError("pass either last_update or one cursor (after/before)")
    if cursors and query.sync_type is None:
        raise ValueError("sync_type is required with a cursor")
    if query.count is not None and query.count < 1:
        raise ValueError("count must be positive")
    params = {"roomId": query.room_id}
    if query.last_update is not None:
        if query.last_update.tzinfo is None:
            raise ValueError("last_update must be timezone-aware")
        # Real servers read a time without an offset in their own zone, so it always goes as UTC.
        params["lastUpdate"] = iso(query.last_update)
        return params
    name, cursor = cursors[0]
    if not 0 <= cursor <= MAX_JS_MS:
        raise ValueError(f"{name} must be a millisecond timestamp a JavaScript Date can hold")
    params.update(type=str(query.sync_type), **{name: str(cursor)})
    if query.count is not None:
        params["count"] = str(query.count)
    return params


def _error_for(
    response: httpx.Response, body: JsonObject | None, rate_limit: RateLimit | None, server_ms: int | None
) -> RocketChatError:
    status = response.status_code
    message = _server_text(body.get("error") if body else None)
    if status == 401:
        return AuthenticationFailed(message or _server_text(body.get("message") if body else None) or "unauthorized")
    if status == 429:
        reset = rate_limit.reset_at_ms if rate_limit else None
        # The reset is on the server's clock, so it is read against the server's Date header.
        wait = wait_seconds_until(reset, server_ms) if server_ms is not None else _wait_from_text(message)
        return RateLimited(message or "too many requests", reset, wait)
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("location", "")).netloc or "another address"
        return UnexpectedResponse(
            f"Rocket.Chat answered HTTP {status}, a redirect to {target}. rc-mcp does not follow redirects, so "
            f"the credentials never go to another address: set {URL_VAR} to the address the server redirects to."
        )
    if status == 400 and body is not None:
        error_type = _server_text(body.get("errorType"), 100)
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
        kind = response.headers.get("content-type", "no content type")[:80]
        return UnexpectedResponse(
            f"Rocket.Chat answered HTTP {status} with a non-JSON body ({kind}). "
            f"Check that {URL_VAR} points at the Rocket.Chat server itself, not a proxy login page; "
            "if the server is restarting, retry in a minute."
        )
    return UnexpectedResponse(
        f"Rocket.Chat answered HTTP {status}: {message or 'no error message'}. "
        "This is a server-side problem; retry later."
    )


def _server_text(value: object, limit: int = 500) -> str | None:
    """A string from the server, fit to quote in an error: one clean line, and no HTML page."""
    if not isinstance(value, str) or not value:
        return None
    if "<html" in value.lower() or "<!doctype" in value.lower():
        return "(an HTML page)"
    return one_line(value, limit)


def _wait_from_text(message: str | None) -> int | None:
    """The seconds a 429 body names ("You must wait 42 seconds"), for servers that send no Date header."""
    words = (message or "").split()
    for before, word in itertools.pairwise(words):
        if before == "wait" and word.isascii() and word.isdigit() and len(word) < 7:
            return int(word)
    return None


def _json_object(raw: bytes | bytearray) -> JsonObject | None:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # invalid JSON or UTF-8, or nesting deeper than Python's stack
        return None
    return body if isinstance(body, dict) else None


def _rate_limit(headers: httpx.Headers) -> RateLimit | None:
    try:
        return RateLimit(
            limit=int(headers["X-RateLimit-Limit"]),
            remaining=max(0, int(headers["X-RateLimit-Remaining"])),
            reset_at_ms=int(headers["X-RateLimit-Reset"]),
        )
    except (KeyError, ValueError):
        return None


def _list_of_objects(value: object, name: str, path: str = SYNC_MESSAGES_PATH) -> list[JsonObject]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnexpectedResponse(f"{path.rsplit('/', 1)[-1]} answered with a malformed '{name}' list.")
    # Entries that are not objects are dropped here; the models layer counts what it cannot show.
    return [item for item in value if isinstance(item, dict)]


def _cursor_value(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)[:40]
    if not (text.isascii() and text.isdigit()):
        raise UnexpectedResponse("chat.syncMessages answered with a non-numeric cursor.")
    return text
