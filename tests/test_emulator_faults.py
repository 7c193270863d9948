"""The fault layer (rc_mcp/emulator/faults.py): each fault produces exactly what its docstring says.

Over real HTTP on loopback (``serve()``), with bounded time: endless faults use short intervals and
the tests read only a few bytes. The last section runs the in-process faults through
``httpx.ASGITransport``.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from rc_mcp.emulator import ConnectionDropped, Emulator, Fault, serve
from rc_mcp.emulator.app import http_date
from rc_mcp.emulator.faults import SHAPES, Shape, gzip_bomb_bytes
from tests.conftest import T0, Server, bare_workspace, real_server

SYNC = "/api/v1/chat.syncMessages"
NOW = T0 + 3_600_000  # the bare workspace's fixed clock
QUERY = {"roomId": "ROOM", "lastUpdate": "2026-11-20T09:00:00.000Z"}


@pytest.fixture
def server() -> Iterator[Server]:
    """Faults act on connections (resets, stalls, redirects): this module uses a real port."""
    yield from real_server()


def sync(server: Server, **params: Any) -> httpx.Response:
    return server.user.get(SYNC, params=params or QUERY)


# --- arming ---------------------------------------------------------------------------------------


def test_armed_once_then_the_route_answers_again(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.http_500_json())
    assert sync(server).status_code == 500
    assert sync(server).status_code == 200
    assert server.emulator.faults.pending(SYNC) == []


def test_times_and_forever(server: Server) -> None:
    faults = server.emulator.faults
    faults.arm(SYNC, Fault.http_502_html(), times=2)
    faults.arm(SYNC, Fault.http_500_json(), times=None)
    assert [sync(server).status_code for _ in range(5)] == [502, 502, 500, 500, 500]
    faults.clear(SYNC)
    assert sync(server).status_code == 200


def test_script_runs_in_order_and_passthrough_lets_one_through(server: Server) -> None:
    server.emulator.faults.script(SYNC, [Fault.http_503(), Fault.passthrough(), Fault.http_500_json()])
    assert server.emulator.faults.pending(SYNC) == ["http_503", "passthrough", "http_500_json"]
    assert [sync(server).status_code for _ in range(4)] == [503, 200, 500, 200]


def test_faults_are_per_path_and_answer_before_authentication(server: Server) -> None:
    server.emulator.faults.arm("/api/v1/me", Fault.http_500_json())
    assert sync(server).status_code == 200  # another path: untouched
    assert httpx.get(server.url + "/api/v1/me").status_code == 500  # no credentials needed


def test_faulted_requests_are_recorded_with_the_fault_name(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.wrong_shape("missing_id"))
    sync(server)
    sync(server)
    assert [(r.fault, r.user_id) for r in server.emulator.requests_to(SYNC)] == [
        ("wrong_shape missing_id", "USER"),
        (None, "USER"),
    ]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="times"):
        Emulator(bare_workspace()[0]).faults.arm(SYNC, Fault.http_500_json(), times=0)
    with pytest.raises(ValueError, match="unknown shape"):
        Fault.wrong_shape("nope")  # type: ignore[arg-type]


# --- status faults --------------------------------------------------------------------------------


def test_500_json(server: Server) -> None:
    """``API.v1.internalError()`` in Rocket.Chat's ApiClass.ts (read from source, see faults.py)."""
    server.emulator.faults.arm(SYNC, Fault.http_500_json())
    response = sync(server)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": False, "error": "Internal server error"}
    assert response.headers["date"] == http_date(NOW)


def test_502_html(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.http_502_html())
    response = sync(server)
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in response.text and "\r\n" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("retry_after", [120, "Fri, 20 Nov 2026 11:00:00 GMT"])
def test_503_with_retry_after(server: Server, retry_after: int | str) -> None:
    server.emulator.faults.arm(SYNC, Fault.http_503(retry_after=retry_after))
    response = sync(server)
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(retry_after)


def test_endless_429_always_resets_a_second_ahead(server: Server) -> None:
    """Reference §6.3: 429 body is a Meteor.Error message without errorType; Reset is epoch ms."""
    server.emulator.faults.arm(SYNC, Fault.too_many_requests(), times=None)
    for _ in range(3):
        response = sync(server)
        assert response.status_code == 429
        assert response.headers["x-ratelimit-limit"] == "10"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["x-ratelimit-reset"] == str(NOW + 1000)
        assert "retry-after" not in response.headers
        assert response.json() == {
            "success": False,
            "error": "Error, too many requests. Please slow down. You must wait 1 seconds before trying "
            "this endpoint again. [error-too-many-requests]",
        }


# --- connection faults (real HTTP only) -----------------------------------------------------------


def test_reset_after_headers_and_part_of_the_body(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.reset(after_bytes=10, length=100))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), server.user.stream("GET", SYNC, params=QUERY) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == "100"
        for chunk in response.iter_raw():
            received += chunk
    assert received == b'{"result":'
    assert sync(server).status_code == 200  # the server is fine afterwards


def test_reset_right_after_headers(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.reset())
    with pytest.raises(httpx.RemoteProtocolError), server.user.stream("GET", SYNC, params=QUERY) as response:
        assert response.status_code == 200
        response.read()


def test_hard_reset(server: Server) -> None:
    """An RST may arrive before the client read the headers: either way it is a transport error."""
    server.emulator.faults.arm(SYNC, Fault.reset(after_bytes=5, hard=True))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        sync(server).read()
    assert sync(server).status_code == 200


def test_never_respond_exercises_read_timeouts(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.never_respond())
    with pytest.raises(httpx.ReadTimeout):
        server.user.get(SYNC, params=QUERY, timeout=httpx.Timeout(5.0, read=0.2))
    assert server.emulator.requests_to(SYNC)[0].fault == "never_respond"
    assert sync(server).status_code == 200


def test_trickle_sends_one_byte_per_interval(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.trickle(interval=0.001))
    with server.user.stream("GET", SYNC, params=QUERY) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"  # open-ended
        chunks: list[bytes] = []
        for chunk in response.iter_raw():
            chunks.append(chunk)
            if len(b"".join(chunks)) >= 30:
                break
    assert b"".join(chunks).startswith(b'{"result":{"updated":[    ')


def test_server_shutdown_ends_a_fault_the_client_still_waits_on() -> None:
    """serve() releases endless faults on exit, so the server stops even while a client waits."""
    ws, _ = bare_workspace()
    emulator = Emulator(ws)
    emulator.faults.arm(SYNC, Fault.never_respond())
    with serve(emulator) as running:
        client = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        client.sendall(f"GET {SYNC} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while not emulator.requests_to(SYNC):
            time.sleep(0.01)  # polls for the request's arrival; no duration is assumed
    with client:
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 503 ")


# --- big bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True])
def test_huge_body_is_valid_json_of_the_asked_size(server: Server, chunked: bool) -> None:
    server.emulator.faults.arm(SYNC, Fault.huge_body(megabytes=2, chunked=chunked))
    with server.user.stream("GET", SYNC, params=QUERY) as response:
        assert ("content-length" in response.headers) is not chunked
        body = response.read()
    assert len(body) == 2 * 1024 * 1024
    assert json.loads(body)["result"] == {"updated": [], "deleted": []}


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.gzip_bomb(megabytes=8))
    with server.user.stream("GET", SYNC, params=QUERY) as response:
        assert response.headers["content-encoding"] == "gzip"
        wire = b"".join(response.iter_raw())
    assert int(response.headers["content-length"]) == len(wire) < 8 * 1024 * 1024 // 500
    inflated = gzip.decompress(wire)
    assert len(inflated) == 8 * 1024 * 1024
    assert json.loads(inflated)["success"] is True
    assert gzip_bomb_bytes(8 * 1024 * 1024) is gzip_bomb_bytes(8 * 1024 * 1024)  # built once, cached


# --- bodies of the wrong kind ---------------------------------------------------------------------


def test_invalid_utf8(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.invalid_utf8())
    response = sync(server)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    assert b"\xff\xfe" in response.content


def _shape_check(kind: Shape, result: dict[str, Any]) -> bool:
    if kind == "updated_not_list":
        return isinstance(result["updated"], dict)
    message = result["updated"][0]
    return {
        "ts_integer": message.get("ts") == NOW,
        "updated_at_integer": message.get("_updatedAt") == NOW,
        "date_object_huge": message.get("ts") == {"$date": 1e300},
        "missing_id": "_id" not in message,
        "user_null": message.get("u", "absent") is None,
        "year_9999": message.get("_updatedAt") == "9999-12-31T23:59:59.999Z",
    }[kind]


@pytest.mark.parametrize("kind", SHAPES)
def test_wrong_shapes(server: Server, kind: Shape) -> None:
    server.emulator.faults.arm(SYNC, Fault.wrong_shape(kind))
    body = sync(server).json()
    assert body["success"] is True
    assert _shape_check(kind, body["result"])


def test_failure_with_a_multi_line_html_error(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.failure_html())
    response = sync(server)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and "errorType" not in body
    assert body["error"].startswith("<!DOCTYPE html>\n") and "\nend: up to date." in body["error"]


@pytest.mark.parametrize("sync_type", ["UPDATED", "DELETED"])
def test_endless_cursor_never_becomes_null(server: Server, sync_type: str) -> None:
    server.emulator.faults.arm(SYNC, Fault.endless_cursor(sync_type), times=None)  # type: ignore[arg-type]
    cursor, seen = str(T0), set()
    for _ in range(5):
        result = sync(server, roomId="ROOM", type=sync_type, next=cursor).json()["result"]
        items = result["updated"] + result["deleted"]
        assert len(items) == 1 and items[0]["_id"] not in seen
        seen.add(items[0]["_id"])
        assert result["cursor"]["next"] not in (None, cursor)
        cursor = result["cursor"]["next"]
    assert cursor == str(T0 + 5000)


def test_hostile_room_info(server: Server) -> None:
    server.emulator.faults.arm("/api/v1/rooms.info", Fault.hostile_room_info())
    room = server.user.get("/api/v1/rooms.info", params={"roomName": "general"}).json()["room"]
    for key in ("_id", "name", "fname"):
        assert "\n" in room[key]
    assert "\nend: up to date." in room["_id"] and "\nmore: call sync_messages" in room["name"]
    assert "\r\n" in room["fname"]


def test_totp_required_body(server: Server) -> None:
    """Research notes (docs/research/rocketchat-versions.md §4): the 400 of a twoFactorRequired route."""
    server.emulator.faults.arm("/api/v1/me", Fault.totp_required())
    response = server.user.get("/api/v1/me")
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "TOTP Required [totp-required]",
        "errorType": "totp-required",
        "details": {"method": "totp", "codeGenerated": False, "availableMethods": ["totp"]},
    }


def test_raw(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.raw(418, b"teapot", [("content-type", "text/plain")]))
    response = sync(server)
    assert (response.status_code, response.text, response.headers["content-length"]) == (418, "teapot", "6")


# --- redirects ------------------------------------------------------------------------------------


@pytest.fixture
def other() -> Iterator[Server]:
    """A second emulator on another port: the "other host" a redirect points to."""
    yield from real_server()


@pytest.mark.parametrize("status", [302, 307])
def test_redirect_to_another_host_carries_the_token_if_followed(server: Server, other: Server, status: int) -> None:
    server.emulator.faults.arm(SYNC, Fault.redirect(status, port=other.running.port))  # type: ignore[arg-type]
    first = sync(server)
    assert first.status_code == status
    location = first.headers["location"]
    assert location.startswith(f"http://127.0.0.1:{other.running.port}{SYNC}?roomId=ROOM&lastUpdate=")
    assert other.url != server.url
    server.emulator.faults.arm(SYNC, Fault.redirect(status, port=other.running.port))  # type: ignore[arg-type]
    followed = server.user.get(SYNC, params=QUERY, follow_redirects=True)
    assert followed.status_code == 200
    # What a careless client leaks: httpx drops Authorization across origins, not X-Auth-Token.
    assert [r.user_id for r in other.emulator.requests_to(SYNC)] == ["USER"]


def test_redirect_to_the_same_host(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.redirect(302))
    first = sync(server)
    assert first.status_code == 302
    assert first.headers["location"].startswith(f"{server.url}{SYNC}?roomId=ROOM")
    server.emulator.faults.arm(SYNC, Fault.redirect(307, path="/rc" + SYNC))
    assert sync(server).headers["location"].startswith(f"{server.url}/rc{SYNC}?")
    server.emulator.faults.arm(SYNC, Fault.redirect(302))
    followed = server.user.get(SYNC, params=QUERY, follow_redirects=True)
    assert followed.status_code == 200 and len(followed.history) == 1


def test_redirect_to_an_explicit_location(server: Server) -> None:
    server.emulator.faults.arm(SYNC, Fault.redirect(301, location="https://login.example.com/sso"))
    assert sync(server).headers["location"] == "https://login.example.com/sso"


# --- in process (httpx.ASGITransport) -------------------------------------------------------------


def test_in_process_faults_through_asgi_transport() -> None:
    ws, _ = bare_workspace()
    emulator = Emulator(ws)
    emulator.faults.script(
        SYNC,
        [Fault.http_500_json(), Fault.gzip_bomb(megabytes=1), Fault.endless_cursor("DELETED"), Fault.reset()],
    )
    headers = {"X-User-Id": "USER", "X-Auth-Token": "user-token"}

    async def run() -> list[Any]:
        transport = httpx.ASGITransport(app=emulator.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rc", headers=headers) as client:
            failed = await client.get(SYNC, params=QUERY)
            bomb = await client.get(SYNC, params=QUERY)
            page = await client.get(SYNC, params={"roomId": "ROOM", "type": "DELETED", "next": str(T0)})
            with pytest.raises(ConnectionDropped):
                await client.get(SYNC, params=QUERY)
            normal = await client.get(SYNC, params=QUERY)
        return [failed.status_code, len(bomb.content), page.json()["result"]["cursor"], normal.status_code]

    assert anyio.run(run) == [500, 1024 * 1024, {"next": str(T0 + 1000), "previous": str(T0 + 1000)}, 200]
