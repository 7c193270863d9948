"""The HTTP client: request shapes (httpx.MockTransport) and the mapping of every error answer."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from rc_mcp.client import RocketChatClient, SyncQuery, SyncType, http_client, tls_context
from rc_mcp.config import Settings
from rc_mcp.errors import (
    AuthenticationFailed,
    InvalidParams,
    NotAllowed,
    RateLimited,
    RequestRejected,
    ServerUnreachable,
    UnexpectedResponse,
)

pytestmark = pytest.mark.anyio

SETTINGS = Settings.from_env(
    {
        "ROCKETCHAT_URL": "https://chat.example.com",
        "ROCKETCHAT_USER_ID": "u1",
        "ROCKETCHAT_AUTH_TOKEN": "tok-SECRET",
    }
)
EMPTY = {"result": {"updated": [], "deleted": []}, "success": True}


def recording(
    status: int = 200, body: Any = EMPTY, headers: dict[str, str] | None = None
) -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return seen, handler


async def call(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
    async with RocketChatClient(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        return await client.sync_messages(SyncQuery(**kwargs))


async def test_last_update_request_shape() -> None:
    seen, handler = recording()
    await call(
        handler,
        room_id="GENERAL",
        last_update=datetime(2026, 11, 20, 12, tzinfo=timezone(timedelta(hours=3))),
    )
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/api/v1/chat.syncMessages"
    assert list(request.url.params.multi_items()) == [
        ("roomId", "GENERAL"),
        ("lastUpdate", "2026-11-20T09:00:00.000Z"),
    ]
    assert request.headers["X-User-Id"] == "u1"
    assert request.headers["X-Auth-Token"] == "tok-SECRET"


async def test_cursor_request_shape() -> None:
    seen, handler = recording(
        body={
            "result": {"updated": [], "deleted": [], "cursor": {"next": None, "previous": None}},
            "success": True,
        }
    )
    await call(handler, room_id="R", sync_type=SyncType.DELETED, before=1795165200000, count=200)
    assert list(seen[0].url.params.multi_items()) == [
        ("roomId", "R"),
        ("type", "DELETED"),
        ("previous", "1795165200000"),
        ("count", "200"),
    ]


async def test_url_prefix_is_kept() -> None:
    seen, handler = recording()
    settings = SETTINGS.model_copy(update={"url": "https://example.com/chat"})
    async with RocketChatClient(settings, transport=httpx.MockTransport(handler)) as client:
        await client.sync_messages(SyncQuery("R", last_update=datetime.now(UTC)))
    assert seen[0].url.path == "/chat/api/v1/chat.syncMessages"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"room_id": "", "last_update": datetime.now(UTC)},
        {"room_id": "R"},
        {"room_id": "R", "last_update": datetime.now(UTC), "after": 1, "sync_type": SyncType.UPDATED},
        {"room_id": "R", "after": 1},  # a cursor without type
        {"room_id": "R", "after": 1, "before": 2, "sync_type": SyncType.UPDATED},
        {"room_id": "R", "after": -1, "sync_type": SyncType.UPDATED},
        {"room_id": "R", "after": 8_640_000_000_000_001, "sync_type": SyncType.UPDATED},  # past JavaScript's dates
        {"room_id": "R", "after": 1, "sync_type": SyncType.UPDATED, "count": 0},
        {"room_id": "R", "last_update": datetime(2026, 1, 1)},  # naive: the server would misread it
    ],
)
async def test_client_refuses_requests_the_server_would_reject(kwargs: dict[str, Any]) -> None:
    seen, handler = recording()
    with pytest.raises(ValueError):
        await call(handler, **kwargs)
    assert seen == []


async def test_response_is_parsed() -> None:
    body = {
        "result": {"updated": [{"_id": "a"}], "deleted": [], "cursor": {"next": "17", "previous": "3"}},
        "success": True,
    }
    _, handler = recording(
        body=body,
        headers={
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "7",
            "X-RateLimit-Reset": "1795165260000",
        },
    )
    response = await call(handler, room_id="R", sync_type=SyncType.UPDATED, after=1)
    assert response.updated == [{"_id": "a"}]
    assert (response.cursor_next, response.cursor_previous) == ("17", "3")
    assert response.rate_limit is not None and response.rate_limit.remaining == 7


ERRORS = [
    (401, {"success": False, "error": "You must be logged in to do this.", "status": "error",
           "message": "You must be logged in to do this."}, AuthenticationFailed, "HTTP 401"),
    (401, {"status": "error", "message": "You must be logged in to do this."}, AuthenticationFailed,
     "You must be logged in to do this."),
    (400, {"success": False, "error": "must NOT have additional properties [invalid-params]",
           "errorType": "invalid-params"}, InvalidParams, "must NOT have additional properties"),
    (400, {"success": False, "errorType": "error-invalid-params", "error": "must have required property 'roomId'"},
     InvalidParams, "must have required property 'roomId' [error-invalid-params]"),
    (400, {"success": False, "error": "Not allowed [error-not-allowed]", "errorType": "error-not-allowed",
           "details": {"method": "messages/get"}}, NotAllowed, "not its display name"),
    (400, {"success": False, "error": "The \"lastUpdate\" query parameter must be a valid date "
           "[error-lastUpdate-param-invalid]", "errorType": "error-lastUpdate-param-invalid"},
     RequestRejected, "must be a valid date"),
    (400, {"success": False, "error": "Invalid Date"}, RequestRejected, "Invalid Date"),
    (400, {"success": False}, RequestRejected, "no error message"),
    (400, {"success": False, "error": "The required \"lastUpdate\" query param is missing.",
           "errorType": "error-lastUpdate-param-not-provided"}, RequestRejected, "error-lastUpdate-param-not-provided"),
    (200, {"success": False, "error": "odd"}, UnexpectedResponse, "odd"),
    (500, {"success": False, "error": "boom"}, UnexpectedResponse, "HTTP 500: boom"),
    (502, b"<html>Bad gateway</html>", UnexpectedResponse, "non-JSON body"),
    (200, b"<html>login</html>", UnexpectedResponse, "non-JSON body"),
    (200, {"success": True}, UnexpectedResponse, "without a 'result' object"),
    (200, {"result": {"updated": "x"}, "success": True}, UnexpectedResponse, "malformed 'updated'"),
    (302, b"", UnexpectedResponse, "does not follow redirects"),
    (400, {"success": False, "error": "x" * 10_000, "errorType": "y" * 10_000}, RequestRejected, "x" * 500),
    (200, {"result": {"updated": [], "cursor": {"next": "abc"}}, "success": True}, UnexpectedResponse, "non-numeric"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "error", "text"), ERRORS)
async def test_error_mapping(status: int, body: Any, error: type[Exception], text: str) -> None:
    _, handler = recording(status, body)
    with pytest.raises(error) as raised:
        await call(handler, room_id="R", sync_type=SyncType.UPDATED, after=1)
    assert text in str(raised.value)
    assert type(raised.value) is error


async def test_a_429_is_read_against_the_servers_clock() -> None:
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1795165212000",
               "Date": "Fri, 20 Nov 2026 09:00:00 GMT"}  # fmt: skip
    _, handler = recording(429, {"success": False, "error": "Error, too many requests."}, headers)
    with pytest.raises(RateLimited) as raised:
        await call(handler, room_id="R", sync_type=SyncType.UPDATED, after=1)
    assert raised.value.wait_seconds == 12


async def test_rate_limited_carries_the_reset() -> None:
    reset = int((datetime.now(UTC) + timedelta(seconds=30)).timestamp() * 1000)
    body = {
        "success": False,
        "error": "Error, too many requests. Please slow down. You must wait 30 seconds "
        "before trying this endpoint again. [error-too-many-requests]",
    }
    _, handler = recording(
        429, body, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    with pytest.raises(RateLimited) as raised:
        await call(handler, room_id="R", sync_type=SyncType.UPDATED, after=1)
    assert raised.value.reset_at_ms == reset
    assert raised.value.wait_seconds == 30  # no Date header: the seconds the body names
    assert "Retry the same call in" in str(raised.value)


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")]
)
async def test_transport_failures(exc: httpx.HTTPError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(ServerUnreachable) as raised:
        await call(handler, room_id="R", sync_type=SyncType.UPDATED, after=1)
    assert "chat.example.com" in str(raised.value)


async def test_a_timeout_advice_fits_every_endpoint() -> None:
    """The same advice is given for rooms.info and subscriptions.get: no cursor or last_update in it."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    async with RocketChatClient(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServerUnreachable) as raised:
            await client.room_info(room_id="R")
    text = str(raised.value)
    assert "did not answer within 20 s (ReadTimeout)" in text and "raise ROCKETCHAT_TIMEOUT" in text
    assert "last_update" not in text and "cursor" not in text


async def test_token_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, handler = recording(401, {"success": False, "error": "You must be logged in to do this."})
    async with RocketChatClient(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        assert "SECRET" not in repr(client)
        with pytest.raises(AuthenticationFailed) as raised:
            await client.sync_messages(SyncQuery("R", sync_type=SyncType.UPDATED, after=1))
    assert "SECRET" not in str(raised.value)
    assert "SECRET" not in caplog.text


async def test_me_and_info() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            return httpx.Response(200, json={"_id": "u1", "username": "bot", "success": True})
        return httpx.Response(200, json={"version": "7.10.0", "success": True})

    async with RocketChatClient(SETTINGS, transport=httpx.MockTransport(handler)) as client:
        assert (await client.me())["username"] == "bot"
        assert (await client.server_info()).body["version"] == "7.10.0"


async def test_no_http_client_is_built_before_the_first_request() -> None:
    client = RocketChatClient(SETTINGS)
    assert client._http is None  # the CA bundle costs ~80 ms of start-up an MCP handshake does not need
    await client.aclose()


async def test_answers_over_the_size_limit_are_refused_while_streaming() -> None:
    settings = SETTINGS.model_copy(update={"max_response_bytes": 1000})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"result": {"updated": [' + b'{"_id": "a"},' * 200 + b"]}}")

    async with RocketChatClient(settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(UnexpectedResponse, match="was larger than"):
            await client.sync_messages(SyncQuery("R", sync_type=SyncType.UPDATED, after=1))


async def test_every_client_shares_one_tls_context_that_verifies() -> None:
    # Building a context loads the CA bundle (about 20 ms); a shared HTTP server builds clients per account.
    made = [http_client(SETTINGS), http_client(SETTINGS.model_copy(update={"url": "https://other.test"}))]
    contexts = {id(client._transport._pool._ssl_context) for client in made}  # type: ignore[attr-defined]
    assert len(contexts) == 1 and tls_context().verify_mode == ssl.CERT_REQUIRED and tls_context().check_hostname
    for client in made:
        await client.aclose()
