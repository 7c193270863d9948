"""``rc-mcp doctor``: one command that answers "why doesn't it work?".

It reads the same environment as the server and prints one line per check, each starting with a
marker: ``ok``, ``warn`` (works, but worth knowing), ``FAIL`` (with what to do about it) or
``skip`` (not checked because an earlier check failed). The exit status is 0 when nothing failed.

Two requests reach the server: ``GET /api/info`` (reachable? Rocket.Chat? which version?) and
``GET /api/v1/me`` (credentials, rate-limit headers). They go through a client of their own with
the same headers, timeouts and redirect policy as :class:`rc_mcp.client.RocketChatClient`, because
the doctor needs what the client hides (status, content type, headers of a successful answer).

Everything the server sends is untrusted: it reaches the output only through ``one_line``, and the
token is masked in every line in case a server echoes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from rc_mcp.client import http_client
from rc_mcp.config import (
    STATE_DIR_VAR,
    STORE_VAR,
    TIMEOUT_VAR,
    TOKEN_VAR,
    URL_VAR,
    USER_ID_VAR,
    ConfigError,
    Settings,
)
from rc_mcp.errors import wait_seconds_until
from rc_mcp.paging import CURSORS_SINCE, parse_version
from rc_mcp.sanitize import one_line
from rc_mcp.times import parse_http_date

JsonObject = dict[str, Any]

INFO_PATH = "/api/info"
ME_PATH = "/api/v1/me"
# /api/info and /api/v1/me are small; a server sending more than this is not the one we want.
_MAX_BODY = 1024 * 1024
_SHORT = 80  # server strings: versions, user names, content types
_LONG = 300  # server error texts, local error texts
# A token shorter than this is a test value; masking it would garble ordinary words in the output.
_MASK_MIN = 8
_PAT_ADVICE = (
    "in Rocket.Chat open My Account > Personal Access Tokens, create a token with "
    f"'Ignore Two Factor Authentication' checked, and set {USER_ID_VAR} and {TOKEN_VAR} to the user id and "
    "token it shows"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check, printed as one line."""

    status: Status
    check: str
    text: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.text}. Fix: {self.fix}" if self.fix else self.text
        return f"{self.status.value:<4} {self.check}: {text}"


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: JsonObject | None  # the JSON object the server sent, None for anything else
    url: httpx.URL


def run(
    environ: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Run every check, write one line each, and return the exit status (0: nothing failed)."""
    findings = anyio.run(_diagnose_env, environ, transport)
    token = environ.get(TOKEN_VAR, "").strip()
    for finding in findings:
        line = finding.line()
        if len(token) >= _MASK_MIN:
            line = line.replace(token, "[token]")
        write(line)
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


async def _diagnose_env(environ: Mapping[str, str], transport: httpx.AsyncBaseTransport | None) -> list[Finding]:
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        return [Finding(Status.FAIL, "config", one_line(str(exc), _LONG))]
    return await diagnose(settings, transport=transport)


async def diagnose(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> list[Finding]:
    """The findings for these settings, in order: config, reach, server, credentials, cursors,
    rate limit, history."""
    url = one_line(settings.url, _LONG)
    findings = [
        Finding(
            Status.OK,
            "config",
            f"{url} as user id {one_line(settings.user_id, _SHORT)}, token set, timeout {settings.timeout:g} s",
        )
    ]
    async with _http(settings, transport) as http:
        try:
            info = await _get(http, INFO_PATH)
        except httpx.HTTPError as exc:
            findings.append(_unreachable(settings, exc))
            findings += [_skip(name, "the server could not be reached") for name in _SERVER_CHECKS]
            info = None
        if info is not None:
            me: _Reply | httpx.HTTPError
            try:
                me = await _get(http, ME_PATH)
            except httpx.HTTPError as exc:  # reachable a moment ago: say what failed, not "unreachable"
                me = exc
            findings.append(Finding(Status.OK, "reach", f"{url} answered (HTTP {info.status})"))
            findings += _server_findings(info, me)
    findings.append(_history(settings))
    return findings


_SERVER_CHECKS = ("server", "credentials", "cursors", "rate limit")


def _skip(check: str, why: str) -> Finding:
    return Finding(Status.SKIP, check, f"not checked: {why}")


def _http(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    # The server's own client settings: a check that passes here passes for the server.
    return http_client(settings, transport, agent=" doctor")


async def _get(http: httpx.AsyncClient, path: str) -> _Reply:
    async with http.stream("GET", path) as response:
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > _MAX_BODY:
                break  # what was read is not a whole JSON document, so the body counts as not JSON
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    return _Reply(response.status_code, response.headers, body if isinstance(body, dict) else None, response.url)


def _unreachable(settings: Settings, exc: httpx.HTTPError) -> Finding:
    url = one_line(settings.url, _LONG)
    detail = one_line(str(exc), _LONG)
    if isinstance(exc, httpx.TimeoutException):
        return Finding(
            Status.FAIL,
            "reach",
            f"{url} did not answer within {settings.timeout:g} s ({type(exc).__name__})",
            f"check that the server is up and that {URL_VAR} is its address; if it is only slow, raise {TIMEOUT_VAR}",
        )
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    fix = f"check {URL_VAR} (scheme, host, port) and that the server is running and reachable from here"
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        fix = "the server's TLS certificate is not trusted here: set SSL_CERT_FILE to the CA bundle that signed it"
    return Finding(Status.FAIL, "reach", f"cannot connect to {url} ({what})", fix)


def _server_findings(info: _Reply, me: _Reply | httpx.HTTPError) -> list[Finding]:
    """server, credentials, cursors and rate limit, from the answers to /api/info and /api/v1/me."""
    me_reply = me if isinstance(me, _Reply) else None
    version_text = info.body.get("version") if _is_rocket_chat(info) and info.body else None
    if _is_rocket_chat(info):
        if isinstance(version_text, str) and version_text.strip():
            server = Finding(Status.OK, "server", f"Rocket.Chat {one_line(version_text.strip(), _SHORT)}")
        else:
            server = Finding(Status.WARN, "server", f"Rocket.Chat, but {INFO_PATH} does not say its version")
    elif me_reply is not None and _looks_like_rocket_chat_me(me_reply):
        server = Finding(
            Status.WARN,
            "server",
            f"{INFO_PATH} {_described(info)}, but {ME_PATH} answers like Rocket.Chat (a proxy blocking "
            f"{INFO_PATH}?); version unknown",
        )
    else:
        failed = _not_rocket_chat(info)
        return [failed, *(_skip(name, "the address does not answer like Rocket.Chat") for name in _SERVER_CHECKS[1:])]

    version = parse_version(version_text)
    since = ".".join(map(str, CURSORS_SINCE))
    if version is None:
        cursors = Finding(
            Status.WARN,
            "cursors",
            "server version unknown: rc-mcp tries cursors first and falls back to lastUpdate if the server "
            "refuses them",
        )
    elif version.has_cursors:
        cursors = Finding(Status.OK, "cursors", f"{version} has cursors ({since}+): paging by next/previous")
    else:
        cursors = Finding(
            Status.WARN,
            "cursors",
            f"{version} has no cursors (they came in {since}): rc-mcp reads through lastUpdate instead, with the "
            "same results in larger answers; upgrade the server for cursor paging",
        )
    if isinstance(me, httpx.HTTPError):
        lost = f"{ME_PATH} failed ({type(me).__name__}: {one_line(str(me), _LONG)})"
        return [
            server,
            Finding(Status.FAIL, "credentials", lost, "retry; if it persists, check the server and the network"),
            cursors,
            _skip("rate limit", f"no answer from {ME_PATH}"),
        ]
    return [server, _credentials(me), cursors, _rate_limit(me)]


def _is_rocket_chat(info: _Reply) -> bool:
    return info.status == 200 and info.body is not None and info.body.get("success") is True


def _looks_like_rocket_chat_me(me: _Reply) -> bool:
    body = me.body or {}
    if me.status == 200:
        return isinstance(body.get("username"), str) and isinstance(body.get("_id"), str)
    return body.get("success") is False or body.get("status") == "error"


def _described(reply: _Reply) -> str:
    kind = one_line(reply.headers.get("content-type", "no content type"), _SHORT)
    shape = "JSON" if reply.body is not None else kind
    return f"answered HTTP {reply.status} with {shape}"


def _not_rocket_chat(info: _Reply) -> Finding:
    if 300 <= info.status < 400:
        location = info.headers.get("location", "")
        target = info.url.join(location) if location else None
        base = str(target.copy_with(query=None, fragment=None)) if target else ""
        base = base.removesuffix(INFO_PATH).rstrip("/") if base.endswith(INFO_PATH) else base
        shown = one_line(base, _LONG) if base else "another address"
        fix = f"set {URL_VAR} to the address the server redirects to"
        if base and urlsplit(base).scheme in ("http", "https"):
            fix = f"set {URL_VAR}={shown}"
        return Finding(
            Status.FAIL,
            "server",
            f"{INFO_PATH} answered HTTP {info.status}, a redirect to {shown}; rc-mcp does not follow redirects, so "
            "the token never goes to another address",
            fix,
        )
    if info.status >= 500:
        return Finding(
            Status.FAIL,
            "server",
            f"{INFO_PATH} {_described(info)}",
            "the server or a proxy in front of it is failing; retry in a minute, then check the server's logs",
        )
    return Finding(
        Status.FAIL,
        "server",
        f"not Rocket.Chat: {INFO_PATH} {_described(info)}, not Rocket.Chat's answer",
        f"set {URL_VAR} to the Rocket.Chat server's base URL (the address its web app opens at), "
        "not a proxy login page or another site",
    )


def _credentials(me: _Reply) -> Finding:
    body = me.body or {}
    error = _text(body.get("error")) or _text(body.get("message"))
    if "totp-required" in (_text(body.get("errorType")), _text(body.get("error"))):
        return Finding(
            Status.FAIL,
            "credentials",
            f"the server asks for a two-factor code (HTTP {me.status}: {error or 'totp-required'}); "
            "rc-mcp cannot enter one",
            _PAT_ADVICE,
        )
    if me.status == 401:
        return Finding(
            Status.FAIL,
            "credentials",
            f"rejected (HTTP 401: {error or 'unauthorized'})",
            f"check {USER_ID_VAR} and {TOKEN_VAR}: the token must belong to that user id and still exist "
            "(My Account > Personal Access Tokens lists them)",
        )
    if me.status == 429:
        return Finding(
            Status.WARN,
            "credentials",
            f"not checked: the server is rate-limiting {ME_PATH} (HTTP 429); run rc-mcp doctor again in a minute",
        )
    username = body.get("username")
    if me.status == 200 and isinstance(username, str) and username:
        return Finding(Status.OK, "credentials", f"accepted: logged in as {one_line(username, _SHORT)}")
    return Finding(
        Status.FAIL,
        "credentials",
        f"{ME_PATH} {_described(me)}" + (f": {error}" if error else "") + ", not a user",
        f"check {URL_VAR}, {USER_ID_VAR} and {TOKEN_VAR}; if they are right, the server's logs may say more",
    )


def _text(value: object) -> str:
    return one_line(value, _LONG) if isinstance(value, str) else ""


def _rate_limit(me: _Reply) -> Finding:
    try:
        limit = int(me.headers["X-RateLimit-Limit"])
        left = max(0, int(me.headers["X-RateLimit-Remaining"]))
        reset_ms = int(me.headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        if me.status != 200:
            return _skip("rate limit", f"{ME_PATH} did not succeed")
        return Finding(
            Status.OK,
            "rate limit",
            f"no rate-limit headers on {ME_PATH} (admin/bot accounts are exempt, or the limiter is off)",
        )
    server_ms = parse_http_date(me.headers.get("date"))
    wait = wait_seconds_until(reset_ms, server_ms) if server_ms is not None else None
    reset = f", the window resets in {wait} s" if wait is not None else ""
    text = f"{limit} calls per window, {left} left{reset} (seen on {ME_PATH}; each route has its own window)"
    if left == 0:
        return Finding(Status.WARN, "rate limit", f"{text}; calls wait for the reset")
    return Finding(Status.OK, "rate limit", text)


def _history(settings: Settings) -> Finding:
    if settings.state_dir is None:
        return Finding(
            Status.OK,
            "history",
            f"off ({STORE_VAR}=off): nothing is kept on disk, catch_up is unavailable and the tools show no "
            "change kinds",
        )
    from rc_mcp.store import FILE_NAME, StoreError, open_store

    path = settings.state_dir / FILE_NAME
    opening = open_store(
        path, settings.account, max_messages=settings.store_max_messages, max_age_days=settings.store_max_age_days
    )
    shown = one_line(str(path), _LONG)
    if opening.store is None:
        return Finding(
            Status.FAIL,
            "history",
            one_line(opening.problem or "local history is off for this run", _LONG),
            f"make {one_line(str(settings.state_dir), _LONG)} a directory you can write, set {STATE_DIR_VAR} to "
            f"another one, or set {STORE_VAR}=off to keep no history",
        )
    try:
        kept = f"{opening.store.count()} messages kept"
    except StoreError as exc:
        kept = one_line(str(exc), _LONG)
    finally:
        opening.store.close()
    if opening.problem:
        return Finding(Status.WARN, "history", f"on, {shown}: {one_line(opening.problem, _LONG)}")
    return Finding(Status.OK, "history", f"on, {shown} ({kept})")
