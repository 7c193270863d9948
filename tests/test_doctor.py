"""``rc-mcp doctor`` in process: the emulator over ASGI for the good paths, MockTransport for the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from rc_mcp.doctor import run
from rc_mcp.emulator import Emulator, RateLimiter, demo_workspace
from tests.conftest import closed_port

MARKERS = ("ok   ", "warn ", "FAIL ", "skip ")
URL = "http://rc.test"
CANARY = "canary-token-5f0e9b2d7c1a"
# The research notes' body for a route that requires 2FA (docs/research/rocketchat-versions.md §4).
TOTP_BODY = (
    '{"success":false,"error":"TOTP Required [totp-required]","errorType":"totp-required",'
    '"details":{"method":"totp","codeGenerated":false,"availableMethods":["totp"]}}'
)
INFO_OK = {"version": "7.10.0", "success": True}
ME_OK = {"_id": "U1", "username": "alice", "success": True}

Handler = Callable[[httpx.Request], httpx.Response]


def env_for(
    tmp_path: Path, *, url: str = URL, user_id: str = "U1", token: str = CANARY, **extra: str
) -> dict[str, str]:
    return {
        "ROCKETCHAT_URL": url,
        "ROCKETCHAT_USER_ID": user_id,
        "ROCKETCHAT_AUTH_TOKEN": token,
        "ROCKETCHAT_MCP_STATE_DIR": str(tmp_path / "state"),
        **extra,
    }


def doctor(environ: dict[str, str], transport: httpx.AsyncBaseTransport | None = None) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run(environ, transport=transport, write=lines.append)
    for line in lines:  # every line is one line and starts with a marker
        assert line.startswith(MARKERS), line
        assert "\n" not in line and "\r" not in line, line
    return code, lines


def line_of(lines: list[str], check: str) -> str:
    found = [line for line in lines if line[5:].startswith(f"{check}: ")]
    assert len(found) == 1, (check, lines)
    return found[0]


def answering(routes: dict[str, httpx.Response | Handler]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, text="not found")
        return answer(request) if callable(answer) else answer

    return httpx.MockTransport(handle)


def rocket_chat(info: object = INFO_OK, me: httpx.Response | None = None) -> httpx.MockTransport:
    return answering({"/api/info": httpx.Response(200, json=info), "/api/v1/me": me or httpx.Response(200, json=ME_OK)})


def emulator_transport(*, rate_limit: bool = False) -> tuple[httpx.ASGITransport, str, str]:
    demo = demo_workspace()
    emulator = Emulator(demo.workspace, rate_limiter=RateLimiter() if rate_limit else None)
    return httpx.ASGITransport(app=emulator.app), demo.user_id, demo.token


# --- against the emulator ------------------------------------------------------------------------


def test_all_ok_against_the_emulator(tmp_path: Path) -> None:
    transport, user_id, token = emulator_transport(rate_limit=True)
    code, lines = doctor(env_for(tmp_path, user_id=user_id, token=token), transport)
    assert code == 0
    assert lines == [
        f"ok   config: {URL} as user id {user_id}, token set, timeout 20 s",
        f"ok   reach: {URL} answered (HTTP 200)",
        "ok   server: Rocket.Chat 7.10",
        "ok   credentials: accepted: logged in as mcp-agent",
        "ok   cursors: 7.10 has cursors (7.1+): paging by next/previous",
        lines[5],
        f"ok   history: on, {tmp_path / 'state' / 'rc-mcp.sqlite3'} (0 messages kept)",
    ]
    # The emulator's window and Date header run on the real clock: the seconds left depend on when.
    assert re.fullmatch(
        r"ok   rate limit: 10 calls per window, 9 left, the window resets in 6[01] s "
        r"\(seen on /api/v1/me; each route has its own window\)",
        lines[5],
    )
    assert token not in "\n".join(lines)


def test_no_rate_limit_headers_is_said_plainly(tmp_path: Path) -> None:
    transport, user_id, token = emulator_transport(rate_limit=False)
    code, lines = doctor(env_for(tmp_path, user_id=user_id, token=token), transport)
    assert code == 0
    assert line_of(lines, "rate limit") == (
        "ok   rate limit: no rate-limit headers on /api/v1/me (admin/bot accounts are exempt, or the limiter is off)"
    )


def test_wrong_token(tmp_path: Path) -> None:
    transport, user_id, _ = emulator_transport()
    code, lines = doctor(env_for(tmp_path, user_id=user_id, token=CANARY), transport)
    assert code == 1
    failed = line_of(lines, "credentials")
    assert failed.startswith("FAIL credentials: rejected (HTTP 401: You must be logged in to do this.). Fix: ")
    assert "ROCKETCHAT_USER_ID" in failed and "ROCKETCHAT_AUTH_TOKEN" in failed
    assert line_of(lines, "server").startswith("ok ")
    assert line_of(lines, "rate limit").startswith("skip ")
    assert CANARY not in "\n".join(lines)


def test_history_off_creates_nothing(tmp_path: Path) -> None:
    transport, user_id, token = emulator_transport()
    code, lines = doctor(env_for(tmp_path, user_id=user_id, token=token, ROCKETCHAT_MCP_STORE="off"), transport)
    assert code == 0
    assert line_of(lines, "history").startswith("ok   history: off (ROCKETCHAT_MCP_STORE=off): nothing is kept")
    assert list(tmp_path.iterdir()) == []


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    transport, user_id, token = emulator_transport()
    code, lines = doctor(env_for(tmp_path, user_id=user_id, token=token), transport)
    assert code == 1
    failed = line_of(lines, "history")
    assert failed.startswith(f"FAIL history: local history is off for this run: {tmp_path / 'state'} is a file")
    assert "ROCKETCHAT_MCP_STATE_DIR" in failed and "ROCKETCHAT_MCP_STORE=off" in failed
    assert [line[:4] for line in lines].count("FAIL") == 1  # the server checks still pass


# --- the server's side, mocked -------------------------------------------------------------------


def test_unreachable_closed_loopback_port(tmp_path: Path) -> None:
    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        code, lines = doctor(env_for(tmp_path, url=url, ROCKETCHAT_TIMEOUT="5"))
    assert code == 1
    assert line_of(lines, "reach").startswith(f"FAIL reach: cannot connect to {url} (ConnectError: ")
    assert "Fix: check ROCKETCHAT_URL" in line_of(lines, "reach")
    for check in ("server", "credentials", "cursors", "rate limit"):
        assert line_of(lines, check) == f"skip {check}: not checked: the server could not be reached"
    assert line_of(lines, "history").startswith("ok   history: on")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot connect to http://rc.test (ConnectError: "),
        (httpx.ConnectTimeout("timed out"), "http://rc.test did not answer within 20 s (ConnectTimeout)"),
    ],
)
def test_unreachable_mocked(tmp_path: Path, error: httpx.HTTPError, expected: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise error

    code, lines = doctor(env_for(tmp_path), httpx.MockTransport(refuse))
    assert code == 1
    assert line_of(lines, "reach").startswith(f"FAIL reach: {expected}")


def test_untrusted_certificate_names_ssl_cert_file(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")

    _, lines = doctor(env_for(tmp_path), httpx.MockTransport(refuse))
    assert "Fix: the server's TLS certificate is not trusted here: set SSL_CERT_FILE" in line_of(lines, "reach")


def test_not_rocket_chat_html(tmp_path: Path) -> None:
    page = httpx.Response(200, html="<html><title>Sign in</title></html>")
    code, lines = doctor(env_for(tmp_path), answering({"/api/info": page, "/api/v1/me": page}))
    assert code == 1
    assert line_of(lines, "reach") == f"ok   reach: {URL} answered (HTTP 200)"
    failed = line_of(lines, "server")
    assert failed.startswith(
        "FAIL server: not Rocket.Chat: /api/info answered HTTP 200 with text/html; charset=utf-8, not Rocket.Chat's "
        "answer. Fix: set ROCKETCHAT_URL to the Rocket.Chat server's base URL"
    )
    for check in ("credentials", "cursors", "rate limit"):
        assert line_of(lines, check) == f"skip {check}: not checked: the address does not answer like Rocket.Chat"


def test_json_that_is_not_rocket_chat(tmp_path: Path) -> None:
    code, lines = doctor(env_for(tmp_path), answering({"/api/info": httpx.Response(200, json={"status": "UP"})}))
    assert code == 1
    assert line_of(lines, "server").startswith("FAIL server: not Rocket.Chat: /api/info answered HTTP 200 with JSON")


def test_redirect_names_the_address_to_set(tmp_path: Path) -> None:
    moved = httpx.Response(301, headers={"Location": "https://chat.example.com/api/info"})
    code, lines = doctor(env_for(tmp_path), answering({"/api/info": moved, "/api/v1/me": moved}))
    assert code == 1
    failed = line_of(lines, "server")
    assert "HTTP 301, a redirect to https://chat.example.com;" in failed
    assert failed.endswith("Fix: set ROCKETCHAT_URL=https://chat.example.com")


def test_server_error(tmp_path: Path) -> None:
    code, lines = doctor(env_for(tmp_path), answering({"/api/info": httpx.Response(502, text="Bad Gateway")}))
    assert code == 1
    assert line_of(lines, "server").startswith("FAIL server: /api/info answered HTTP 502 with text/plain")


def test_totp_required(tmp_path: Path) -> None:
    me = httpx.Response(400, content=TOTP_BODY, headers={"Content-Type": "application/json"})
    code, lines = doctor(env_for(tmp_path), rocket_chat({"version": "8.8.1", "success": True}, me))
    assert code == 1
    failed = line_of(lines, "credentials")
    assert failed.startswith(
        "FAIL credentials: the server asks for a two-factor code (HTTP 400: TOTP Required [totp-required])"
    )
    assert "Personal Access Tokens, create a token with 'Ignore Two Factor Authentication' checked" in failed


def test_old_server_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    code, lines = doctor(env_for(tmp_path), rocket_chat({"version": "6.13", "success": True}))
    assert code == 0
    assert line_of(lines, "server") == "ok   server: Rocket.Chat 6.13"
    assert line_of(lines, "cursors").startswith(
        "warn cursors: 6.13 has no cursors (they came in 7.1): rc-mcp reads through lastUpdate instead"
    )


def test_version_not_said(tmp_path: Path) -> None:
    code, lines = doctor(env_for(tmp_path), rocket_chat({"success": True}))
    assert code == 0
    assert line_of(lines, "server") == "warn server: Rocket.Chat, but /api/info does not say its version"
    assert line_of(lines, "cursors").startswith("warn cursors: server version unknown: rc-mcp tries cursors first")


def test_info_blocked_but_me_answers(tmp_path: Path) -> None:
    routes = {"/api/info": httpx.Response(403, html="denied"), "/api/v1/me": httpx.Response(200, json=ME_OK)}
    code, lines = doctor(env_for(tmp_path), answering(routes))
    assert code == 0
    assert line_of(lines, "server").startswith("warn server: /api/info answered HTTP 403 with text/html")
    assert line_of(lines, "credentials") == "ok   credentials: accepted: logged in as alice"


def test_rate_limit_headers_with_the_server_clock(tmp_path: Path) -> None:
    headers = {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1795165242000",
        "Date": "Fri, 20 Nov 2026 09:00:00 GMT",  # 1795165200000
    }
    code, lines = doctor(env_for(tmp_path), rocket_chat(me=httpx.Response(200, json=ME_OK, headers=headers)))
    assert code == 0
    assert line_of(lines, "rate limit") == (
        "warn rate limit: 10 calls per window, 0 left, the window resets in 42 s (seen on /api/v1/me; each route "
        "has its own window); calls wait for the reset"
    )


def test_me_fails_after_info_answered(tmp_path: Path) -> None:
    def me(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection")

    code, lines = doctor(
        env_for(tmp_path), answering({"/api/info": httpx.Response(200, json=INFO_OK), "/api/v1/me": me})
    )
    assert code == 1
    assert line_of(lines, "reach").startswith("ok ")
    assert line_of(lines, "credentials").startswith("FAIL credentials: /api/v1/me failed (RemoteProtocolError: ")


def test_config_error_is_one_failed_line(tmp_path: Path) -> None:
    code, lines = doctor({"ROCKETCHAT_URL": "ftp://x", "ROCKETCHAT_USER_ID": "u", "ROCKETCHAT_AUTH_TOKEN": CANARY})
    assert code == 1
    assert lines == [
        "FAIL config: ROCKETCHAT_URL is not an http(s) URL: set it to the server's base URL, e.g. https://chat.example.com"
    ]
    code, lines = doctor({})
    assert code == 1 and len(lines) == 1 and lines[0].startswith("FAIL config: ROCKETCHAT_URL is not set")


def test_the_token_never_appears_even_when_the_server_echoes_it(tmp_path: Path) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["X-Auth-Token"]
        assert token == CANARY  # it was sent...
        body = {"version": token, "username": token, "_id": token, "error": token, "success": True}
        return httpx.Response(200, json=body, headers={"Content-Type": f"text/{token}"})

    def echo_401(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"success": False, "error": f"bad token {request.headers['X-Auth-Token']}"})

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused {request.headers['X-Auth-Token']}")

    for transport in (
        answering({"/api/info": echo, "/api/v1/me": echo}),
        answering({"/api/info": echo, "/api/v1/me": echo_401}),
        httpx.MockTransport(refuse),
    ):
        _, lines = doctor(env_for(tmp_path), transport)
        output = "\n".join(lines)
        assert CANARY not in output  # ...but never shown
        assert "[token]" in output


def test_server_strings_cannot_add_lines(tmp_path: Path) -> None:
    forged = "7.10\nok   credentials: accepted\u2028ok   history: on\x1b[2K"
    me = httpx.Response(401, content=json.dumps({"error": "no\r\nok   rate limit: fine"}))
    code, lines = doctor(env_for(tmp_path), rocket_chat({"version": forged, "success": True}, me))
    assert code == 1
    assert len(lines) == 7
    shown = "7.10\\nok   credentials: accepted\\nok   history: on[2K"  # escaped, invisible ESC removed
    assert line_of(lines, "server") == f"ok   server: Rocket.Chat {shown}"
    assert "HTTP 401: no\\nok   rate limit: fine" in line_of(lines, "credentials")
