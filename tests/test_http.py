"""rc-mcp over streamable HTTP: the bearer token, Host/Origin checks, the refusal to serve a
non-loopback address without a token, and a shared server that runs each caller as their own
account with a history of its own. The app runs on a real loopback port (uvicorn); the emulator
behind it runs in process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from rc_mcp.__main__ import main
from rc_mcp.accounts import MAX_ACCOUNTS
from rc_mcp.emulator import Emulator, demo_workspace
from rc_mcp.emulator.runner import serve_app
from rc_mcp.emulator.seed import DEMO_START, DEMO_TOKEN
from rc_mcp.http import http_app, is_loopback, listen, refusal, url_of
from rc_mcp.server import build_server
from rc_mcp.store import FILE_NAME
from tests.conftest import rc_mcp_over_http, settings_for, text_of

pytestmark = pytest.mark.anyio
SECRET = "http-bearer-secret-for-tests"


@contextmanager
def shared_server(
    tmp_path: Path, *, token: str | None = SECRET, allowed_hosts: tuple[str, ...] = (), **env: str
) -> Iterator[tuple[str, Any]]:
    """rc-mcp over HTTP on loopback, in front of the demo workspace (in process)."""
    with shared_server_and_emulator(tmp_path, token=token, allowed_hosts=allowed_hosts, **env) as (url, demo, _):
        yield url, demo


@contextmanager
def shared_server_and_emulator(
    tmp_path: Path, *, token: str | None = SECRET, allowed_hosts: tuple[str, ...] = (), **env: str
) -> Iterator[tuple[str, Any, Emulator]]:
    """``shared_server``, and the emulator behind it (its requests show what rc-mcp asked)."""
    demo = demo_workspace()
    emulator = Emulator(demo.workspace)
    settings = settings_for("http://rc.test", ROCKETCHAT_MCP_STATE_DIR=str(tmp_path), **env)
    if not env.get("ROCKETCHAT_USER_ID"):
        settings = settings.model_copy(update={"user_id": "", "auth_token": settings.auth_token.__class__("")})
    server = build_server(settings, transport=httpx.ASGITransport(app=emulator.app))
    with bound("127.0.0.1") as sockets:  # bound before the app is built, as `rc-mcp --port 0` does
        app = http_app(server, host="127.0.0.1", port=sockets[0].getsockname()[1], token=token,
                       allowed_hosts=list(allowed_hosts))  # fmt: skip
        with serve_with_lifespan(app, sockets) as url:
            yield url, demo, emulator


@contextmanager
def bound(host: str, port: int = 0) -> Iterator[list[socket.socket]]:
    sockets = listen(host, port)
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def serve_with_lifespan(app: Any, sockets: list[socket.socket]) -> Iterator[str]:
    """uvicorn in a thread on ``sockets``, running the app's lifespan (the MCP session manager lives in it)."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield url_of(sockets)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@asynccontextmanager
async def mcp_over_http(url: str, **headers: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def test_only_loopback_may_go_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("chat.example.com")
    assert refusal("127.0.0.1", None) is None and refusal("0.0.0.0", "s3cret") is None
    assert "ROCKETCHAT_MCP_HTTP_TOKEN" in (refusal("0.0.0.0", None) or "")
    # A public name forwarded to loopback by a proxy is as reachable as a public address.
    assert "mcp.example.com" in (refusal("127.0.0.1", None, ["mcp.example.com"]) or "")
    assert refusal("127.0.0.1", "s3cret", ["mcp.example.com"]) is None


def test_the_command_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
    env.update(ROCKETCHAT_URL="http://127.0.0.1:9", ROCKETCHAT_MCP_STATE_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "rc_mcp", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "set ROCKETCHAT_MCP_HTTP_TOKEN" in done.stderr


async def test_connections_are_accepted_without_delayed_acks() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only for a socket made with IPPROTO_TCP: without
    # it each answer waited ~40 ms (a crowd of 300 requests took 14 s instead of 1 s).
    accepted: list[int] = []

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    with bound("127.0.0.1") as sockets:
        server = await asyncio.get_running_loop().create_server(Accept, sock=sockets[0])
        async with server:
            _, writer = await asyncio.open_connection(*sockets[0].getsockname()[:2])
            with anyio.fail_after(30):
                while not accepted:
                    await anyio.sleep(0.01)
            writer.close()
    assert accepted[0] != 0


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6")
@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("localhost", ["::1", "127.0.0.1"]),  # most machines' /etc/hosts (this one's says 127.0.0.1 alone)
        ("", ["::", "0.0.0.0"]),  # every interface: IPv6-only on ::, else 0.0.0.0 on the same port is taken
    ],
)
def test_a_name_is_served_on_each_of_its_addresses_on_one_port(
    host: str, addresses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client may take any address the name has, so each is served, as uvicorn's own binding did.
    tcp = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    found = [(socket.AF_INET6, *tcp, (addresses[0], 0, 0, 0)), (socket.AF_INET, *tcp, (addresses[1], 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, *_, **__: found if name == (host or None) else [])
    with bound(host) as sockets:
        assert [sock.getsockname()[0] for sock in sockets] == addresses
        assert len({sock.getsockname()[1] for sock in sockets}) == 1
        assert sockets[0].getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKETCHAT_")}
    env.update(ROCKETCHAT_URL="http://127.0.0.1:9", ROCKETCHAT_MCP_STATE_DIR=str(tmp_path))
    with bound("127.0.0.1") as taken:
        port = taken[0].getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "rc_mcp", "--transport", "streamable-http", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"rc-mcp: cannot serve on 127.0.0.1:{port} (Address already in use); try another --port\n"


@pytest.mark.parametrize(
    ("host", "port", "line"),
    [
        ("127.0.0.1", "99999", "(port must be 0-65535, not 99999); try another --port"),  # not 34463
        ("192.0.2.1", "0", "(Cannot assign requested address); check --host"),  # an address not on this machine
    ],
)
def test_an_address_that_cannot_be_served_is_one_clear_line(
    host: str, port: str, line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROCKETCHAT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ROCKETCHAT_MCP_HTTP_TOKEN", SECRET)
    with pytest.raises(SystemExit) as stopped:
        main(["--transport", "streamable-http", "--host", host, "--port", port])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"rc-mcp: cannot serve on {host}:{port} {line}\n"


@pytest.mark.parametrize(("host", "header"), [("192.0.2.7", "192.0.2.7:8000"), ("fd00::2", "[fd00::2]:8000")])
def test_a_public_address_answers_to_its_own_name(tmp_path: Path, host: str, header: str) -> None:
    from starlette.testclient import TestClient

    settings = settings_for("http://rc.test", ROCKETCHAT_MCP_STATE_DIR=str(tmp_path))
    server = build_server(settings, transport=httpx.ASGITransport(app=Emulator(demo_workspace().workspace).app))
    app = http_app(server, host=host, port=8000, token=SECRET, allowed_hosts=[])
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {SECRET}"}
    with TestClient(app, base_url=f"http://{header}") as client:
        assert client.post("/mcp", json=body, headers={**headers, "Host": header}).status_code == 200
        assert client.post("/mcp", json=body, headers={**headers, "Host": "evil.example:8000"}).status_code == 421


def test_the_bearer_token_health_and_host_checks(tmp_path: Path) -> None:
    with shared_server(tmp_path) as (url, _):
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        assert httpx.post(f"{url}/mcp", json=body, headers=accept).status_code == 401
        wrong = {**accept, "Authorization": "Bearer nope"}
        assert httpx.post(f"{url}/mcp", json=body, headers=wrong).status_code == 401
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        good = {**accept, "Authorization": f"Bearer {SECRET}"}
        rebound = httpx.post(f"{url}/mcp", json=body, headers={**good, "Host": "evil.example.com"})
        assert rebound.status_code in (400, 403, 421)
        foreign = httpx.post(f"{url}/mcp", json=body, headers={**good, "Origin": "https://evil.example.com"})
        assert foreign.status_code in (400, 403)


def test_a_proxy_on_this_machine_forwards_its_public_name(tmp_path: Path) -> None:
    with shared_server(tmp_path, allowed_hosts=("mcp.example.com",)) as (url, _):
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        good = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {SECRET}"}
        public = {**good, "Host": "mcp.example.com", "Origin": "https://mcp.example.com"}
        assert httpx.post(f"{url}/mcp", json=body, headers=public).status_code == 200
        assert httpx.post(f"{url}/mcp", json=body, headers=good).status_code == 200
        rebound = httpx.post(f"{url}/mcp", json=body, headers={**good, "Host": "evil.example.com"})
        assert rebound.status_code == 421


async def test_two_accounts_in_one_server_never_see_each_others_history(tmp_path: Path) -> None:
    with shared_server(tmp_path) as (url, demo):
        ws = demo.workspace
        bob = ws.add_user("bob-bot", token="bob-token")
        ws.rooms[demo.support].members.add(bob.id)
        agent = {"Authorization": f"Bearer {SECRET}", "X-User-Id": demo.user_id, "X-Auth-Token": DEMO_TOKEN}
        as_bob = {"Authorization": f"Bearer {SECRET}", "X-User-Id": bob.id, "X-Auth-Token": "bob-token"}
        support = {"room_id": demo.support, "since": DEMO_START}
        async with mcp_over_http(url, **agent) as client:
            seen = await client.call_tool("catch_up", support)
        assert seen.is_error is False, text_of(seen)
        first = ws.find_updates(demo.support)[0]["_id"]
        ws.delete(first)
        async with mcp_over_http(url, **as_bob) as client:
            deleted = await client.call_tool("list_deleted", {"room_id": demo.support, "last_update": DEMO_START})
        async with mcp_over_http(url, **agent) as client:
            recalled = await client.call_tool("list_deleted", {"room_id": demo.support, "last_update": DEMO_START})
    assert "never seen by rc-mcp" in text_of(deleted) and "Customer ACME" not in text_of(deleted)
    assert "recalled from local history" in text_of(recalled) and "Customer ACME" in text_of(recalled)


async def test_list_rooms_workspace_catch_up_and_search_per_account_over_http(tmp_path: Path) -> None:
    with shared_server(tmp_path) as (url, demo):
        ws = demo.workspace
        bob = ws.add_user("bob-bot", token="bob-token")
        # Joining bumps #general's _updatedAt (usersCount), as on a real server.
        ws.join(demo.general, "bob-bot", announce=False)
        agent = {"Authorization": f"Bearer {SECRET}", "X-User-Id": demo.user_id, "X-Auth-Token": DEMO_TOKEN}
        as_bob = {"Authorization": f"Bearer {SECRET}", "X-User-Id": bob.id, "X-Auth-Token": "bob-token"}
        async with mcp_over_http(url, **agent) as client:
            rooms = await client.call_tool("list_rooms", {})
            looked = await client.call_tool("catch_up", {"since": DEMO_START, "max_items": 1000})
            found = await client.call_tool("search_history", {"query": "502s"})
        async with mcp_over_http(url, **as_bob) as client:
            bobs_rooms = await client.call_tool("list_rooms", {})
            bobs_search = await client.call_tool("search_history", {"query": "502s"})
    assert "@alice" in [r["name"] for r in (rooms.structured_content or {})["rooms"]]
    assert (looked.structured_content or {})["caught_up"] is True
    assert "EU 502s" in text_of(found)
    assert [r["name"] for r in (bobs_rooms.structured_content or {})["rooms"]] == ["#general"]
    assert bobs_search.is_error is False and (bobs_search.structured_content or {})["messages"] == []


async def test_a_caller_without_credentials_or_with_wrong_ones_gets_nothing(tmp_path: Path) -> None:
    with shared_server(tmp_path) as (url, demo):
        async with mcp_over_http(url, Authorization=f"Bearer {SECRET}") as client:
            anonymous = await client.call_tool("sync_messages", {"room_id": "GENERAL", "last_update": DEMO_START})
        wrong = {"Authorization": f"Bearer {SECRET}", "X-User-Id": demo.user_id, "X-Auth-Token": "not-it"}
        async with mcp_over_http(url, **wrong) as client:
            refused = await client.call_tool("catch_up", {"room_id": "GENERAL"})
    assert anonymous.is_error is True and "send the X-User-Id and X-Auth-Token headers" in text_of(anonymous)
    assert refused.is_error is True and "HTTP 401" in text_of(refused)


async def test_wrong_credentials_open_no_history(tmp_path: Path) -> None:
    with shared_server(tmp_path) as (url, demo):
        wrong = {"Authorization": f"Bearer {SECRET}", "X-User-Id": demo.user_id, "X-Auth-Token": "not-it"}
        unknown = {"Authorization": f"Bearer {SECRET}", "X-User-Id": "no-such-user", "X-Auth-Token": "nor-this"}
        async with mcp_over_http(url, **wrong) as client:
            refused = await client.call_tool("catch_up", {"room_id": "GENERAL"})
        async with mcp_over_http(url, **unknown) as client:
            stranger = await client.call_tool("search_history", {"query": "502s"})
    assert refused.is_error is True and stranger.is_error is True
    assert "not-it" not in text_of(refused) and "nor-this" not in text_of(stranger)
    assert not (tmp_path / FILE_NAME).exists()  # checked before any history was opened: nothing written


async def test_a_crowd_of_wrong_callers_pushes_no_real_caller_out(tmp_path: Path) -> None:
    # A caller's session keeps what it learned (here: a room name's id). Wrong callers get no
    # session, so even more of them than sessions are kept leave the real caller's in place.
    with shared_server_and_emulator(tmp_path) as (url, demo, emulator):
        agent = {"Authorization": f"Bearer {SECRET}", "X-User-Id": demo.user_id, "X-Auth-Token": DEMO_TOKEN}
        read = {"room_id": "#support-escalations", "last_update": DEMO_START}
        async with mcp_over_http(url, **agent) as client:
            first = await client.call_tool("sync_messages", read)
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {SECRET}"}) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as crowd,
        ):
            for n in range(MAX_ACCOUNTS + 44):  # stateless: each request carries the headers set now
                http.headers.update({"X-User-Id": f"stranger-{n}", "X-Auth-Token": f"guess-{n}"})
                refused = await crowd.call_tool("sync_messages", read)
                assert refused.is_error is True and "HTTP 401" in text_of(refused)
        async with mcp_over_http(url, **agent) as client:
            again = await client.call_tool("sync_messages", read)
        lookups = [r for r in emulator.requests_to("/api/v1/rooms.info") if r.user_id == demo.user_id]
    assert first.is_error is False and again.is_error is False, text_of(again)
    assert len(lookups) == 1  # the same session answered: the name's id was still known


async def test_the_real_process_over_http(tmp_path: Path) -> None:
    demo = demo_workspace()
    with serve_app(Emulator(demo.workspace).app) as rocket_chat:
        env = {"ROCKETCHAT_URL": rocket_chat, "ROCKETCHAT_USER_ID": demo.user_id, "ROCKETCHAT_AUTH_TOKEN": DEMO_TOKEN,
               "ROCKETCHAT_MCP_STATE_DIR": str(tmp_path)}  # fmt: skip
        with rc_mcp_over_http(env) as url:
            async with mcp_over_http(url) as client:
                tools = [t.name for t in (await client.list_tools()).tools]
                result = await client.call_tool("sync_messages", {"room_id": "#general", "last_update": DEMO_START})
    assert tools == ["list_rooms", "catch_up", "sync_messages", "list_deleted", "search_history"]
    assert result.is_error is False and "Good morning! Release 4.2" in text_of(result)
