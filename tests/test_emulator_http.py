"""HTTP plumbing shared by every route: the ``Date`` header and the authentication prologue."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest

from rc_mcp.emulator import Emulator, Workspace, serve
from rc_mcp.emulator.app import http_date
from tests.conftest import T0, Server, bare_workspace, real_server

NOW = T0 + 3_600_000  # the bare workspace's fixed clock
SYNC = "/api/v1/chat.syncMessages"


@pytest.fixture
def served() -> Iterator[Server]:
    """On a real port: what uvicorn adds to an answer is what this module checks."""
    yield from real_server()


def test_http_date_is_rfc_7231_imf_fixdate() -> None:
    assert http_date(T0) == "Fri, 20 Nov 2026 09:00:00 GMT"
    assert http_date(T0 + 999) == "Fri, 20 Nov 2026 09:00:00 GMT"  # whole seconds, truncated


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/info", {}, 200),
        ("/api/v1/me", {"X-User-Id": "USER", "X-Auth-Token": "user-token"}, 200),
        ("/api/v1/me", {}, 401),
        (SYNC, {"X-User-Id": "USER", "X-Auth-Token": "user-token"}, 400),
        ("/api/v1/no-such-route", {}, 404),
    ],
)
def test_every_answer_has_exactly_one_date_from_the_workspace_clock(
    served: Server, path: str, headers: dict[str, str], status: int
) -> None:
    """Real servers send ``Date``; uvicorn's own Date and Server headers are off (runner.serve_app)."""
    response = httpx.get(served.url + path, headers=headers)
    assert response.status_code == status
    assert response.headers.get_list("date") == [http_date(NOW)]
    assert "server" not in response.headers


def test_date_follows_the_clock_in_process() -> None:
    now = [T0]
    transport = httpx.ASGITransport(app=Emulator(Workspace(clock=lambda: now[0])).app)

    async def dates() -> list[str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://rc") as client:
            first = (await client.get("/api/info")).headers["date"]
            now[0] += 86_400_000
            second = (await client.get("/api/info")).headers["date"]
        return [first, second]

    assert anyio.run(dates) == ["Fri, 20 Nov 2026 09:00:00 GMT", "Sat, 21 Nov 2026 09:00:00 GMT"]


def test_429_has_a_date_too(limited_server: Server) -> None:
    for _ in range(4):
        response = limited_server.user.get("/api/v1/me")
    assert response.status_code == 429
    assert response.headers["date"] == http_date(NOW)


def test_unauthenticated_requests_are_recorded_and_cost_no_rate_limit_budget(limited_server: Server) -> None:
    """Reference §6.1: authentication runs before everything else, so a 401 consumes no budget."""
    for _ in range(5):
        assert limited_server.anonymous.get("/api/v1/rooms.info").status_code == 401
    assert limited_server.user.get("/api/v1/rooms.info", params={"roomName": "conformance"}).status_code == 200
    recorded = limited_server.emulator.requests_to("/api/v1/rooms.info")
    assert [r.user_id for r in recorded] == [None] * 5 + ["USER"]


def test_rate_limit_headers_are_on_error_answers_too(limited_server: Server) -> None:
    """Reference §6.3: when the limiter is active every response, success or not, carries the headers."""
    missing = limited_server.user.get("/api/v1/rooms.info", params={"roomName": "nope"})
    assert missing.status_code == 400
    assert missing.headers["X-RateLimit-Limit"] == "3"
    assert missing.headers["X-RateLimit-Remaining"] == "2"


def test_routes_share_one_prologue() -> None:
    """Every /api/v1 route answers 401 the same way, before reading its parameters."""
    ws, _ = bare_workspace()
    with serve(Emulator(ws)) as running:
        for method, path in [
            ("GET", "/api/v1/me"),
            ("GET", SYNC),
            ("GET", "/api/v1/rooms.info"),
            ("GET", "/api/v1/rooms.get"),
            ("GET", "/api/v1/subscriptions.get"),
            ("POST", "/api/v1/subscriptions.read"),
            ("POST", "/api/v1/chat.postMessage"),
            ("POST", "/api/v1/chat.update"),
            ("POST", "/api/v1/chat.delete"),
            ("POST", "/api/v1/chat.react"),
        ]:
            response = httpx.request(method, running.url + path, headers={"X-User-Id": "USER", "X-Auth-Token": "x"})
            assert response.status_code == 401, path
            assert response.json()["error"] == "You must be logged in to do this."
