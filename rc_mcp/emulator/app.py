"""The emulator's HTTP face: a Starlette app serving the Rocket.Chat routes rc-mcp uses.

Pipeline per the reference (legacy 7.1–8.x route): authentication → rate limit → query schema →
handler. With ``router="typed"`` (8.8+) the schema runs before the rate limiter and reports
``error-invalid-params``. Every request is recorded in ``Emulator.requests`` so tests can prove
what did (and did not) reach the server.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rc_mcp.emulator import syncmessages
from rc_mcp.emulator.ratelimit import RateLimiter
from rc_mcp.emulator.workspace import NotFound, User, Workspace, iso_ms, to_wire

SERVER_VERSION = "7.10.0"
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


@dataclass
class Emulator:
    """A Rocket.Chat stand-in: a workspace, an optional rate limiter and the ASGI app serving them."""

    workspace: Workspace
    rate_limiter: RateLimiter | None = None
    router: syncmessages.Router = "legacy"
    server_tz: tzinfo = UTC
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/api/info", self._info),
                Route("/api/v1/me", self._me),
                Route("/api/v1/chat.syncMessages", self._sync_messages),
                Route("/api/v1/rooms.info", self._rooms_info),
                Route("/api/v1/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/v1/chat.update", self._update_message, methods=["POST"]),
                Route("/api/v1/chat.delete", self._delete_message, methods=["POST"]),
                Route("/api/v1/chat.react", self._react, methods=["POST"]),
            ]
        )

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- plumbing -------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        entry = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query, keep_blank_values=True),
            user_id=request.headers.get("x-user-id"),
        )
        with self._lock:
            self.requests.append(entry)

    def _user(self, request: Request) -> User | None:
        user_id = request.headers.get("x-user-id")
        token = request.headers.get("x-auth-token")
        if not user_id or not token:
            return None
        return self.workspace.authenticate(user_id, token)

    def _limit(self, request: Request, user: User) -> tuple[dict[str, str], Response | None]:
        if self.rate_limiter is None or user.bypasses_rate_limit:
            return {}, None
        ip = request.client.host if request.client else "unknown"
        verdict = self.rate_limiter.check(ip, request.url.path)
        if verdict.allowed:
            return verdict.headers, None
        return verdict.headers, _json(429, verdict.body or {}, verdict.headers)

    async def _authed(self, request: Request) -> tuple[User | None, dict[str, str], Response | None]:
        """Record, authenticate and rate-limit; a returned Response ends the request."""
        self._record(request)
        user = self._user(request)
        if user is None:
            return None, {}, _json(401, _UNAUTHORIZED)
        headers, refusal = self._limit(request, user)
        return user, headers, refusal

    # --- routes ---------------------------------------------------------------------------------

    async def _info(self, request: Request) -> Response:
        self._record(request)
        return _json(200, {"version": SERVER_VERSION, "success": True})

    async def _me(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
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
        return _json(200, body, headers)

    async def _sync_messages(self, request: Request) -> Response:
        self._record(request)
        user = self._user(request)
        if user is None:
            return _json(401, _UNAUTHORIZED)
        try:
            query = parse_qs_like(request.url.query)
        except ValueError:
            return _json(400, {"success": False, "error": "Invalid query parameters"})
        headers: dict[str, str] = {}
        if self.router == "legacy":
            headers, refusal = self._limit(request, user)
            if refusal:
                return refusal
        coerced, failure = syncmessages.validate_query(query, self.router)
        if self.router == "typed":
            if failure:
                return _json(*failure)
            headers, refusal = self._limit(request, user)
            if refusal:
                return refusal
        if failure or coerced is None:
            return _json(*(failure or (400, {"success": False})), headers)
        status, body = syncmessages.handle(self.workspace, user.id, coerced, server_tz=self.server_tz)
        return _json(status, body, headers)

    async def _rooms_info(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
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
        doc: dict[str, Any] = {
            "_id": room.id,
            "t": room.t,
            "name": room.name,
            "fname": room.name,
            "ts": iso_ms(room.ts),
            "usersCount": len(room.members),
            "archived": room.archived,
        }
        if room.topic:
            doc["topic"] = room.topic
        return _json(200, {"room": doc, "success": True}, headers)

    async def _post_message(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
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
        return _json(200, {"ts": message["ts"], "channel": room_id, "message": message, "success": True}, headers)

    async def _update_message(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
        body = await _body(request)
        try:
            self.workspace.edit(str(body.get("msgId")), str(body.get("text") or ""), by=user.username)
        except NotFound:
            return _json(
                *_error("The room id provided does not match where the message is from.", "error-invalid-message")
            )
        return _json(200, {"message": to_wire(self.workspace.messages[str(body["msgId"])]), "success": True}, headers)

    async def _delete_message(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
        body = await _body(request)
        msg_id = str(body.get("msgId"))
        try:
            self.workspace.delete(msg_id, by=user.username)
        except NotFound:
            return _json(*_error("No message found with the id provided", "error-message-not-found"))
        return _json(200, {"_id": msg_id, "ts": iso_ms(self.workspace.now()), "success": True}, headers)

    async def _react(self, request: Request) -> Response:
        user, headers, refusal = await self._authed(request)
        if refusal or user is None:
            return refusal or _json(401, _UNAUTHORIZED)
        body = await _body(request)
        try:
            self.workspace.react(str(body.get("messageId")), user.username, str(body.get("emoji")))
        except NotFound:
            return _json(*_error("No message found with the id provided", "error-message-not-found"))
        return _json(200, {"success": True}, headers)


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


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**_NO_CACHE, **(headers or {})})


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
