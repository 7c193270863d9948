"""Server versions: the emulator against docs/research/rocketchat-versions.md ("versions §n").

* before 7.1 (6.13.0, 7.0.0): chat.syncMessages knows only roomId + lastUpdate (versions §1);
* 8.8+: the typed router and ``fromTs`` (versions §3, reference §3.4);
* ``GET /api/info`` per version and caller (versions §2.1).

Everything runs over real HTTP on loopback, with the bare workspace's fixed clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from rc_mcp.emulator import Emulator, RateLimiter
from rc_mcp.emulator.versions import MINIMUM_CLIENT_VERSIONS, Version, trimmed
from rc_mcp.emulator.workspace import Workspace, iso_ms
from tests.conftest import T0, bare_workspace, in_process

SYNC = "/api/v1/chat.syncMessages"
NOW_ISO = iso_ms(T0 + 3_600_000)
SINCE = iso_ms(T0)
PRE_CURSOR = ["6.13.0", "7.0.0"]
USER = {"X-User-Id": "USER", "X-Auth-Token": "user-token"}
ADMIN = {"X-User-Id": "ADMIN", "X-Auth-Token": "admin-token"}


@contextmanager
def served(version: str, **options: Any) -> Iterator[tuple[httpx.Client, Workspace]]:
    ws, _ = bare_workspace()
    with in_process(Emulator(ws, version=version, **options), USER) as client:
        yield client, ws


@pytest.fixture(scope="module", params=PRE_CURSOR)
def pre_cursor(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """One server per pre-7.1 version for the read-only tests (starting servers is the slow part)."""
    with served(request.param) as (client, _):
        yield client


@pytest.fixture(scope="module")
def typed() -> Iterator[httpx.Client]:
    """An 8.8.0 server for read-only tests."""
    with served("8.8.0") as (client, _):
        yield client


def assert_error(response: httpx.Response, error_type: str | None, error: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"] == error
    assert body.get("errorType") == error_type


# --- before 7.1 -----------------------------------------------------------------------------------

ROOM_MISSING = (
    "error-roomId-param-not-provided",
    'The required "roomId" query param is missing. [error-roomId-param-not-provided]',
)
LAST_UPDATE_MISSING = (
    "error-lastUpdate-param-not-provided",
    'The required "lastUpdate" query param is missing. [error-lastUpdate-param-not-provided]',
)
BAD_DATE = (
    "error-roomId-param-invalid",
    'The "lastUpdate" query parameter must be a valid date. [error-roomId-param-invalid]',
)
NOT_ALLOWED = ("error-not-allowed", "Not allowed [error-not-allowed]")
MATCH_ERROR = (None, "Match error: Expected string, got object")

PRE_CURSOR_ERRORS = [
    # versions §1.1: !roomId, then !lastUpdate, then Date.parse, in that order; empty counts as missing.
    ({}, ROOM_MISSING),
    ({"roomId": ""}, ROOM_MISSING),
    ({"lastUpdate": "garbage"}, ROOM_MISSING),
    ({"roomId": "ROOM"}, LAST_UPDATE_MISSING),
    ({"roomId": "ROOM", "lastUpdate": ""}, LAST_UPDATE_MISSING),
    # A 7.1-style cursor request: no lastUpdate (versions §2.2, the behavioural probe).
    ({"roomId": "ROOM", "type": "UPDATED", "next": str(T0), "count": "1"}, LAST_UPDATE_MISSING),
    ({"roomId": "ROOM", "lastUpdate": "2024-13-45"}, BAD_DATE),
    ({"roomId": "ROOM", "lastUpdate": "1700000000000"}, BAD_DATE),
    ({"roomId": "ROOM", "lastUpdate": [NOW_ISO, NOW_ISO]}, BAD_DATE),  # String([a, b]) is "a,b"
    ({"roomId": "NOPE", "lastUpdate": "invalid-date"}, BAD_DATE),  # the date is checked before the room
    ({"roomId": "NOPE", "lastUpdate": NOW_ISO}, NOT_ALLOWED),
    # check(rid, String) in messages/get: a Match.Error, so no errorType (versions §1.2).
    ({"roomId": ["ROOM", "OTHER"], "lastUpdate": NOW_ISO}, MATCH_ERROR),
    ({"roomId[x]": "1", "lastUpdate": NOW_ISO}, MATCH_ERROR),
    ({"roomId": ["NOPE", "OTHER"], "lastUpdate": NOW_ISO}, MATCH_ERROR),  # before the access check
]


@pytest.mark.parametrize(("query", "expected"), PRE_CURSOR_ERRORS)
def test_pre_cursor_errors(pre_cursor: httpx.Client, query: dict[str, Any], expected: tuple[str | None, str]) -> None:
    assert_error(pre_cursor.get(SYNC, params=query), *expected)


@pytest.mark.parametrize("version", PRE_CURSOR)
def test_pre_cursor_not_allowed_has_details(version: str) -> None:
    with served(version) as (client, ws):
        private = ws.add_room("private", t="p", members=["admin"])
        response = client.get(SYNC, params={"roomId": private.id, "lastUpdate": NOW_ISO})
    assert_error(response, *NOT_ALLOWED)
    assert response.json()["details"] == {"method": "messages/get"}


@pytest.mark.parametrize("version", PRE_CURSOR)
def test_pre_cursor_answer_shape_and_ordering(version: str) -> None:
    """versions §1.3: updated by ts descending, strict ``_updatedAt > lastUpdate``, no limit, no cursor;
    deleted as {_id, _deletedAt} by ts descending."""
    with served(version) as (client, ws):
        before = ws.post("ROOM", "admin", "before", at=T0)  # _updatedAt == lastUpdate: excluded
        ids = [ws.post("ROOM", "admin", f"m{i}", at=T0 + 10 + i) for i in range(30)]
        ws.edit(before, "still before?", at=T0)  # touched, but not after lastUpdate
        ws.edit(ids[0], "edited later", at=T0 + 500)
        ws.delete(ids[1], at=T0 + 600)
        ws.delete(ids[2], at=T0 + 700)
        response = client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"result", "success"} and body["success"] is True
    assert set(body["result"]) == {"updated", "deleted"}  # never a cursor
    updated = [m["_id"] for m in body["result"]["updated"]]
    assert updated == [i for i in reversed(ids) if i not in ids[1:3]]  # 28 messages: no page limit
    assert body["result"]["deleted"] == [
        {"_id": ids[2], "_deletedAt": iso_ms(T0 + 700)},
        {"_id": ids[1], "_deletedAt": iso_ms(T0 + 600)},
    ]
    assert body["result"]["updated"][-1]["msg"] == "edited later"


@pytest.mark.parametrize("version", PRE_CURSOR)
def test_pre_cursor_ignores_every_other_parameter(version: str) -> None:
    """No schema runs (versions §1.1): cursor, count, type, fromTs, offset… are read by nobody."""
    with served(version) as (client, ws):
        msg = ws.post("ROOM", "admin", "hello", at=T0 + 5)
        plain = client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE}).json()
        noisy = client.get(
            SYNC,
            params={
                "roomId": "ROOM",
                "lastUpdate": SINCE,
                "type": "DELETED",
                "next": "abc",
                "previous": "1",
                "count": "nope",
                "fromTs": NOW_ISO,
                "offset": "0",
                "sort": '{"ts":1}',
            },
        ).json()
    assert noisy == plain
    assert [m["_id"] for m in plain["result"]["updated"]] == [msg]


@pytest.mark.parametrize("version", PRE_CURSOR)
def test_pre_cursor_pipeline_auth_then_rate_limit_then_handler(version: str) -> None:
    ws, _ = bare_workspace()
    emulator = Emulator(ws, version=version, rate_limiter=RateLimiter(calls=2))
    with in_process(emulator, USER) as client, in_process(emulator) as anonymous:
        assert anonymous.get(SYNC).status_code == 401  # costs no budget
        assert client.get(SYNC).status_code == 400  # a malformed request still consumes budget
        ok = client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": NOW_ISO})
        assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining"] == "0"
        assert client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": NOW_ISO}).status_code == 429


def test_pre_cursor_has_no_typed_router() -> None:
    with pytest.raises(ValueError, match="no typed router"):
        Emulator(bare_workspace()[0], version="7.0.0", router="typed")


def test_cursors_start_at_7_1() -> None:
    with served("7.1.0") as (client, ws):
        ws.post("ROOM", "admin", "m", at=T0 + 1)
        page = client.get(SYNC, params={"roomId": "ROOM", "type": "UPDATED", "next": str(T0), "count": "1"})
    assert page.json()["result"]["cursor"] == {"next": None, "previous": str(T0 + 1)}


# --- 8.8+ -----------------------------------------------------------------------------------------


def test_8_8_uses_the_typed_router() -> None:
    ws, _ = bare_workspace()
    assert Emulator(ws, version="8.8.0").router == "typed"
    assert Emulator(ws, version="8.7.1").router == "legacy"
    with served("8.8.0") as (client, _):
        assert_error(client.get(SYNC), "error-invalid-params", "must have required property 'roomId'")


def test_from_ts_bounds_last_update_mode_by_creation_time() -> None:
    """versions §3: most likely reading, ``ts >= fromTs`` on updated and deleted (unverified upstream)."""
    with served("8.8.0") as (client, ws):
        old = ws.post("ROOM", "admin", "old", at=T0 + 10)
        boundary = ws.post("ROOM", "admin", "boundary", at=T0 + 20)
        new = ws.post("ROOM", "admin", "new", at=T0 + 30)
        gone_old = ws.post("ROOM", "admin", "gone old", at=T0 + 11)
        gone_new = ws.post("ROOM", "admin", "gone new", at=T0 + 31)
        ws.edit(old, "old, edited", at=T0 + 100)
        ws.delete(gone_old, at=T0 + 101)
        ws.delete(gone_new, at=T0 + 102)
        params = {"roomId": "ROOM", "lastUpdate": SINCE, "fromTs": iso_ms(T0 + 20)}
        result = client.get(SYNC, params=params).json()["result"]
        everything = client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE}).json()["result"]
    assert [m["_id"] for m in result["updated"]] == [new, boundary]
    assert [d["_id"] for d in result["deleted"]] == [gone_new]
    assert [m["_id"] for m in everything["updated"]] == [new, boundary, old]


@pytest.mark.parametrize(
    "value",
    ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00",
     "2024-05-01 10:00:00Z"],
)  # fmt: skip
def test_from_ts_accepted_formats(typed: httpx.Client, value: str) -> None:
    """versions §3, checked there with ajv-formats: iso-date-time, zone optional, T or space."""
    response = typed.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE, "fromTs": value})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["2024-05-01", "1714557600000", "", "2024-02-30T10:00:00Z", "2024-05-01T25:00:00Z"])
def test_from_ts_rejected_formats(typed: httpx.Client, value: str) -> None:
    response = typed.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE, "fromTs": value})
    assert_error(response, "error-invalid-params", 'must match format "iso-date-time"')


def test_from_ts_is_ignored_in_cursor_mode() -> None:
    with served("8.8.0") as (client, ws):
        msg = ws.post("ROOM", "admin", "m", at=T0 + 1)
        params = {"roomId": "ROOM", "type": "UPDATED", "next": str(T0), "fromTs": iso_ms(T0 + 60_000)}
        result = client.get(SYNC, params=params).json()["result"]
    assert [m["_id"] for m in result["updated"]] == [msg]


@pytest.mark.parametrize("version", ["7.1.0", "7.10.0", "8.7.0"])
def test_from_ts_is_refused_before_8_8(version: str) -> None:
    with served(version) as (client, _):
        response = client.get(SYNC, params={"roomId": "ROOM", "lastUpdate": SINCE, "fromTs": SINCE})
    assert_error(response, "invalid-params", "must NOT have additional properties [invalid-params]")


# --- /api/info ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["6.13.0", "7.0.0", "7.10.0"])
def test_info_before_8(version: str) -> None:
    with served(version) as (client, _):
        anonymous = client.get("/api/info", headers={"X-User-Id": "", "X-Auth-Token": ""}).json()
        wrong_token = client.get("/api/info", headers={**USER, "X-Auth-Token": "x"}).json()
        user = client.get("/api/info").json()
        admin = client.get("/api/info", headers=ADMIN).json()
    unprivileged = {"version": trimmed(version), "minimumClientVersions": MINIMUM_CLIENT_VERSIONS, "success": True}
    assert anonymous == wrong_token == user == unprivileged
    assert admin == {**unprivileged, "version": version, "info": {"version": version}}


def test_info_from_8() -> None:
    with served("8.8.1") as (client, _):
        anonymous = client.get("/api/info", headers={"X-User-Id": "", "X-Auth-Token": ""}).json()
        admin = client.get("/api/info", headers=ADMIN).json()
    url = str(client.base_url).rstrip("/")
    assert anonymous == {
        "workspaceUrl": url,
        "hashedWorkspaceUrl": hashlib.sha256(url.encode()).hexdigest(),
        "version": "8.8",
        "minimumClientVersions": MINIMUM_CLIENT_VERSIONS,
        "success": True,
    }
    assert admin["version"] == "8.8.1" and admin["info"] == {"version": "8.8.1"}


def test_info_is_not_rate_limited() -> None:
    """``/api/info`` is on ``API.default``, which has no version, so no limiter rule."""
    ws, _ = bare_workspace()
    with in_process(Emulator(ws, rate_limiter=RateLimiter(calls=1)), USER) as client:
        codes = [client.get("/api/info").status_code for _ in range(3)]
    assert codes == [200, 200, 200]


def test_default_version_is_unchanged() -> None:
    ws, _ = bare_workspace()
    assert Emulator(ws).version == "7.10.0"


def test_version_parsing() -> None:
    assert Version.parse("7.1.0-rc.2") == Version(7, 1, 0) and Version.parse("7.1.0-rc.2").has_cursors
    assert Version.parse("8.8") == Version(8, 8) and Version.parse("8.8").typed_router
    assert not Version.parse("7.0.9").has_cursors
    assert trimmed("7.1.0-rc.2") == "7.1" and trimmed("8.8.1") == "8.8"
    with pytest.raises(ValueError, match=r"not a Rocket\.Chat version"):
        Version.parse("latest")
