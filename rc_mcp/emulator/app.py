"""The emulator's HTTP face: a Starlette app serving the Rocket.Chat routes rc-mcp uses.

Pipeline per the reference (legacy 7.1–8.x route): authentication → rate limit → query schema →
handler. With ``router="typed"`` (8.8+) the schema runs before the rate limiter and reports
``error-invalid-params``. ``version`` picks the release to imitate (see :mod:`.versions`): before
7.1 ``chat.syncMessages`` has no schema and no cursors; 8.8+ is always typed and takes ``fromTs``.
Every request is recorded in ``Emulator.requests`` so tests can prove what did (and did not)
reach the server.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rc_mcp.emulator import rooms, syncmessages, versions
from rc_mcp.emulator.faults import Exchange, Faults
from rc_mcp.emulator.ratelimit import RateLimiter
from rc_mcp.emulator.syncmessages import Query
from rc_mcp.emulator.versions import Version
from rc_mcp.emulator.workspace import NotFound, User, Workspace, iso_ms, to_wire

SERVER_VERSION = versions.DEFAULT_VERSION
_UNAUTHORIZED = {
    "success": False,
    "error": "You must be logged in to do this.",
    "status": "error",
    "message": "You must be logged in to do this.",
}
_NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BRACKETED = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    user_id: str | None
    fault: str | None = None  # the name of the fault that answered instead of the route


Handler = Callable[["Emulator", Request, User], Awaitable[Response]]
Endpoint = Callable[["Emulator", Request], Awaitable[Response]]


def authenticated(*, rate_limited: bool = True) -> Callable[[Handler], Endpoint]:
    """The prologue every ``/api/v1`` route shares: record, authenticate, then rate-limit.

    Authentication comes first and costs no rate-limit budget (reference §6.1); the default limiter
    then runs before the handler, and its ``X-RateLimit-*`` headers go on every answer, success or
    not (§6.3). Routes with a query schema, where the router decides whether the limiter runs
    before or after it (§3.4), pass ``rate_limited=False`` and use
    :meth:`Emulator._limit_then_schema`.
    """

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(self: Emulator, request: Request) -> Response:
            self._record(request)
            user = self._user(request)
            if user is None:
                return _json(401, _UNAUTHORIZED)
            if not rate_limited:
                return await handler(self, request, user)
            headers, refusal = self._limit(request, user)
            if refusal is not None:
                return refusal
            response = await handler(self, request, user)
            response.headers.update(headers)
            return response

        return endpoint

    return wrap


@dataclass
class Emulator:
    """A Rocket.Chat stand-in: a workspace, an optional rate limiter and the ASGI app serving them.

    ``app`` is the ASGI application (serve it with :func:`rc_mcp.emulator.serve`, or call it in
    process through ``httpx.ASGITransport(app=emulator.app)``). ``faults`` injects broken or
    hostile answers per path (see :mod:`rc_mcp.emulator.faults`). ``version`` is the Rocket.Chat
    release to imitate; 8.8+ always uses the typed router, and before 7.1 there is no schema, so
    ``router="typed"`` is refused there.
    """

    workspace: Workspace
    rate_limiter: RateLimiter | None = None
    router: syncmessages.Router = "legacy"
    server_tz: tzinfo = UTC
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    faults: Faults = field(default_factory=Faults, kw_only=True)
    version: str = field(default=SERVER_VERSION, kw_only=True)

    def __post_init__(self) -> None:
        self.parsed_version = Version.parse(self.version)
        if self.parsed_version.typed_router:
            self.router = "typed"
        elif self.router == "typed" and not self.parsed_version.has_cursors:
            raise ValueError(f"Rocket.Chat {self.version} has no query schema, so no typed router")
        self.routes = Starlette(
            routes=[
                Route("/api/info", self._info),
                Route("/api/v1/me", self._me),
                Route("/api/v1/chat.syncMessages", self._sync_messages),
                Route("/api/v1/rooms.info", self._rooms_info),
                Route("/api/v1/rooms.get", self._rooms_get),
                Route("/api/v1/subscriptions.get", self._subscriptions_get),
                Route("/api/v1/subscriptions.read", self._subscriptions_read, methods=["POST"]),
                Route("/api/v1/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/v1/chat.update", self._update_message, methods=["POST"]),
                Route("/api/v1/chat.delete", self._delete_message, methods=["POST"]),
                Route("/api/v1/chat.react", self._react, methods=["POST"]),
            ]
        )
        self.app: ASGIApp = _App(self._asgi)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- plumbing -------------------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        dated = self._dated(send)
        fault = self.faults.take(str(scope["path"]))
        if fault is None or fault.serve is None:
            await self.routes(scope, receive, dated)
            return
        self._record(Request(scope), fault=fault.name)
        await fault.serve(Exchange(scope, receive, dated, send, self.workspace.now(), self.faults))

    def _dated(self, send: Send) -> Send:
        """Give every answer an HTTP ``Date`` from the workspace clock, as a real server sends one.

        With a fake clock the server's time is deterministic, which is what clients that read
        ``Date`` as the server's clock need in tests. (The runner turns uvicorn's own ``Date`` off.)
        """

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [(b"date", http_date(self.workspace.now()).encode()), *headers]}
            await send(message)

        return dated

    def _record(self, request: Request, *, fault: str | None = None) -> None:
        entry = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            user_id=request.headers.get("x-user-id"),
            fault=fault,
        )
        with self._lock:
            self.requests.append(entry)

    def _user(self, request: Request) -> User | None:
        user_id = request.headers.get("x-user-id")
        token = request.headers.get("x-auth-token")
        if not user_id or not token:
            return None
        return self.workspace.authenticate(user_id, token)

    def _limit_then_schema(
        self, request: Request, user: User, failure: tuple[int, dict[str, Any]] | None
    ) -> tuple[dict[str, str], Response | None]:
        """Legacy routes rate-limit before their query schema, so malformed requests cost budget; the
        typed router validates first (reference §3.4). Returns the limiter's headers and the answer
        that ends the request, if any."""
        if self.router == "typed" and failure is not None:
            return {}, _json(*failure)
        headers, refusal = self._limit(request, user)
        if refusal is not None:
            return headers, refusal
        return headers, None if failure is None else _json(*failure, headers)

    def _limit(self, request: Request, user: User) -> tuple[dict[str, str], Response | None]:
        if self.rate_limiter is None or user.bypasses_rate_limit:
            return {}, None
        ip = request.client.host if request.client else "unknown"
        verdict = self.rate_limiter.check(ip, request.url.path)
        if verdict.allowed:
            return verdict.headers, None
        return verdict.headers, _json(429, verdict.body or {}, verdict.headers)

    # --- routes ---------------------------------------------------------------------------------

    async def _info(self, request: Request) -> Response:
        # No authentication required; valid credentials of a view-statistics holder (admin) see more.
        self._record(request)
        user = self._user(request)
        privileged = user is not None and "admin" in user.roles
        workspace_url = str(request.base_url).rstrip("/")
        return _json(200, versions.info_body(self.version, privileged=privileged, workspace_url=workspace_url))

    @authenticated()
    async def _me(self, request: Request, user: User) -> Response:
        body = {
            "_id": user.id,
            "username": user.username,
            "name": user.name,
            "status": "online",
            "active": True,
            "roles": sorted(user.roles),
            "utcOffset": 0,
            "success": True,
        }
        return _json(200, body)

    @authenticated(rate_limited=False)
    async def _sync_messages(self, request: Request, user: User) -> Response:
        query = _query(request)
        if query is None:
            return _json(400, _BAD_QUERY)
        headers: dict[str, str] = {}
        if not self.parsed_version.has_cursors:
            headers, refusal = self._limit(request, user)
            if refusal:
                return refusal
            answer = syncmessages.handle_before_cursors(self.workspace, user.id, query, server_tz=self.server_tz)
            return _json(*answer, headers)
        coerced, failure = syncmessages.validate_query(query, self.router, from_ts=self.parsed_version.typed_router)
        headers, refusal = self._limit_then_schema(request, user, failure)
        if refusal is not None or coerced is None:
            return refusal or _json(400, {"success": False}, headers)
        status, body = syncmessages.handle(self.workspace, user.id, coerced, server_tz=self.server_tz)
        return _json(status, body, headers)

    @authenticated(rate_limited=False)
    async def _subscriptions_get(self, request: Request, user: User) -> Response:
        query = _query(request)
        if query is None:
            return _json(400, _BAD_QUERY)
        failure = rooms.validate_subscriptions_query(query, self.router)
        headers, refusal = self._limit_then_schema(request, user, failure)
        if refusal is not None:
            return refusal
        return _json(*rooms.subscriptions_get(self.workspace, user.id, query, server_tz=self.server_tz), headers)

    @authenticated()
    async def _rooms_get(self, request: Request, user: User) -> Response:
        query = _query(request)
        if query is None:
            return _json(400, _BAD_QUERY)
        return _json(*rooms.rooms_get(self.workspace, user.id, query, server_tz=self.server_tz))

    @authenticated()
    async def _subscriptions_read(self, request: Request, user: User) -> Response:
        """``subscriptions.read`` (rooms §3.3); a room without the caller's subscription is a plain Error."""
        body = await _body(request)
        room_id = str(body.get("rid") or body.get("roomId") or "")
        try:
            self.workspace.mark_read(room_id, user.username, read_threads=body.get("readThreads") is True)
        except NotFound:
            return _json(400, {"success": False, "error": "error-invalid-subscription"})
        return _json(200, {"success": True})

    @authenticated()
    async def _rooms_info(self, request: Request, user: User) -> Response:
        room_id = request.query_params.get("roomId")
        room_name = request.query_params.get("roomName")
        if not room_id and not room_name:
            return _json(*_error('The parameter "roomId" or "roomName" is required', "error-roomid-param-not-provided"))
        room = self.workspace.rooms.get(room_id or "") if room_id else self.workspace.room_by_name(room_name or "")
        if room is None:
            return _json(
                *_error(
                    'The required "roomId" or "roomName" param provided does not match any channel',
                    "error-room-not-found",
                )
            )
        if not self.workspace.can_access(user.id, room.id):
            return _json(400, {"success": False, "error": "not-allowed", "errorType": "Not Allowed"})
        if room.archived:
            return _json(*_error(f"The channel, {room.name}, is archived", "error-room-archived"))
        doc = {**self.workspace.room_doc(room.id), "archived": room.archived}
        return _json(200, {"room": doc, "success": True})

    @authenticated()
    async def _post_message(self, request: Request, user: User) -> Response:
        body = await _body(request)
        room_id = str(body.get("roomId") or "")
        if not self.workspace.can_access(user.id, room_id):
            return _json(*_error("Not allowed", "error-not-allowed"))
        msg_id = self.workspace.post(
            room_id,
            user.username,
            str(body.get("text") or ""),
            alias=body.get("alias") if isinstance(body.get("alias"), str) else None,
            tmid=body.get("tmid") if isinstance(body.get("tmid"), str) else None,
        )
        message = to_wire(self.workspace.messages[msg_id])
        return _json(200, {"ts": message["ts"], "channel": room_id, "message": message, "success": True})

    @authenticated()
    async def _update_message(self, request: Request, user: User) -> Response:
        body = await _body(request)
        try:
            self.workspace.edit(str(body.get("msgId")), str(body.get("text") or ""), by=user.username)
        except NotFound:
            return _json(
                *_error("The room id provided does not match where the message is from.", "error-invalid-message")
            )
        return _json(200, {"message": to_wire(self.workspace.messages[str(body["msgId"])]), "success": True})

    @authenticated()
    async def _delete_message(self, request: Request, user: User) -> Response:
        body = await _body(request)
        msg_id = str(body.get("msgId"))
        try:
            self.workspace.delete(msg_id, by=user.username)
        except NotFound:
            return _json(*_error("No message found with the id provided", "error-message-not-found"))
        return _json(200, {"_id": msg_id, "ts": iso_ms(self.workspace.now()), "success": True})

    @authenticated()
    async def _react(self, request: Request, user: User) -> Response:
        body = await _body(request)
        try:
            self.workspace.react(str(body.get("messageId")), user.username, str(body.get("emoji")))
        except NotFound:
            return _json(*_error("No message found with the id provided", "error-message-not-found"))
        return _json(200, {"success": True})


class _App:
    """An ASGI 3 app around a coroutine; uvicorn detects ASGI 3 from ``__call__``, not from bound methods."""

    def __init__(self, handle: ASGIApp) -> None:
        self._handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send)


def http_date(ms: int) -> str:
    """An RFC 7231 IMF-fixdate (``Fri, 20 Nov 2026 09:00:00 GMT``) for ``ms`` since the epoch."""
    return formatdate(ms / 1000, usegmt=True)


def parse_qs_like(query: str) -> dict[str, Any]:
    """Express/qs query parsing: repeated keys become lists and ``a[b]=c`` becomes an object."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        match = _BRACKETED.match(key)
        if match:
            name, sub = match.groups()
            current = out.get(name)
            if isinstance(current, list):
                current.append(value)
            elif sub == "":
                out[name] = [*([current] if isinstance(current, str) else []), value]
            else:
                target = current if isinstance(current, dict) else {}
                target[sub] = value
                out[name] = target
            continue
        if key in out:
            existing = out[key]
            out[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[key] = value
    if any(isinstance(v, list) and len(v) > 500 for v in out.values()):
        raise ValueError("too many array items")
    return out


def _error(reason: str, code: str) -> tuple[int, dict[str, Any]]:
    return syncmessages.meteor_error(reason, code)


_BAD_QUERY = {"success": False, "error": "Invalid query parameters"}


def _query(request: Request) -> Query | None:
    """The query string as the server's parser reads it, or None when it cannot (a 400)."""
    try:
        return parse_qs_like(request.url.query)
    except ValueError:
        return None


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**_NO_CACHE, **(headers or {})})


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
