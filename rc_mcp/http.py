"""Serving MCP over streamable HTTP, for remote and shared use.

The app is the SDK's stateless streamable-HTTP app (any replica can answer any request, so it runs
behind a load balancer), with DNS-rebinding protection (Host and Origin checks) and, when
``ROCKETCHAT_MCP_HTTP_TOKEN`` is set, a bearer token on every request. ``GET /healthz`` answers
without one, for load balancers; it says nothing but "ok".
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from rc_mcp.config import HTTP_ALLOWED_HOSTS_VAR, HTTP_TOKEN_VAR
from rc_mcp.server import AppState

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(host: str, token: str | None, allowed_hosts: Sequence[str] = ()) -> str | None:
    """Why serving on ``host`` must not start, or None: only loopback, and only when no public name
    is forwarded to it, may go without a token."""
    if token or (is_loopback(host) and not allowed_hosts):
        return None
    reach = f"--host {host}" if not is_loopback(host) else f"{HTTP_ALLOWED_HOSTS_VAR} ({', '.join(allowed_hosts)})"
    return (
        f"{reach} would serve anyone who can reach it without a password: set {HTTP_TOKEN_VAR} to a long "
        "random secret (clients then send 'Authorization: Bearer <it>'), or serve on 127.0.0.1 alone."
    )


def http_app(
    server: MCPServer[AppState], *, host: str, port: int, token: str | None, allowed_hosts: list[str]
) -> ASGIApp:
    """The MCP app at ``/mcp``: stateless, Host/Origin-checked, and behind the bearer token if one is set.

    A browser page on another site cannot reach it (Origin), nor can a name that resolves to this
    machine by a DNS trick (Host): only this host's own names, and those in ``allowed_hosts`` (the
    public names behind a load balancer), are answered.
    """
    # An IPv6 address stands in brackets in a Host header ("[fd00::2]:8000").
    own = ["127.0.0.1", "localhost", "[::1]"] if is_loopback(host) else [f"[{host}]" if ":" in host else host]
    names = [*own, *allowed_hosts]  # a proxy on this machine forwards its public names to loopback
    origins = [f"{scheme}://{name}" for name in names for scheme in ("http", "https")]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{name}:{port}" for name in names)],
        allowed_origins=[*origins, *(f"{origin}:{port}" for origin in origins)],
    )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, transport_security=security, host=host
    )
    return _Guard(app, token)


class _Guard:
    """The bearer-token check in front of the MCP app, and the health route."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == HEALTH_PATH:
            await _respond(send, 200, {"status": "ok"})
            return
        if scope["type"] == "http" and self.expected is not None:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await _respond(send, 401, {"error": "unauthorized: send Authorization: Bearer <token>"})
                return
        await self.app(scope, receive, send)


async def _respond(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="rc-mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets on every address ``host`` names, as asyncio would bind them (``localhost``: 127.0.0.1 and
    ::1; an empty host: every interface), all on one port (port 0: one the system picks). Bound before
    the app is built, so that the Host check knows the real port and a taken port is one clear error."""
    if not 0 <= port <= 65535:  # getaddrinfo would quietly take 99999 as 34463
        raise OverflowError(f"port must be 0-65535, not {port}")
    found = socket.getaddrinfo(
        host.strip("[]") or None, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            # IPPROTO_TCP said outright, as asyncio does: it sets TCP_NODELAY on accepted connections
            # only then, and without it every answer waits ~40 ms for a delayed ACK.
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            if os.name == "posix":  # a port held only by closed connections (TIME_WAIT) is free, as for uvicorn
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # IPv6 alone, as asyncio binds it: IPv4 has its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            at = address if len(bound) == 1 else (address[0], bound[0].getsockname()[1], *address[2:])
            sock.bind(at)
            sock.listen()
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return bound


def url_of(sockets: list[socket.socket]) -> str:
    """The URL of the first address served."""
    host, port = sockets[0].getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    server: MCPServer[AppState], sockets: list[socket.socket], *, host: str, token: str | None, allowed_hosts: list[str]
) -> None:
    """Serve on ``sockets``, bound for ``host`` (the name as given: the Host check answers to it), until interrupted."""
    import uvicorn

    port = sockets[0].getsockname()[1]
    app = http_app(server, host=host, port=port, token=token, allowed_hosts=allowed_hosts)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", server_header=False)
    uvicorn.Server(config).run(sockets=sockets)
