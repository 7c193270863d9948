"""The emulator against the reference: every case of §8 (Rocket.Chat's own end-to-end tests) and
every row of §9 (bad input → status, errorType, error), over real HTTP on loopback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rc_mcp.emulator import Emulator, Workspace
from rc_mcp.emulator.workspace import iso_ms
from tests.conftest import ADMIN_HEADERS, T0, USER_HEADERS, Server, bare_workspace, in_process

SYNC = "/api/v1/chat.syncMessages"
NOW_ISO = iso_ms(T0 + 3_600_000)


def get(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.get(SYNC, params=params)


def assert_error(response: httpx.Response, error_type: str | None, error: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"] == error
    assert body.get("errorType") == error_type


# --- §8: Rocket.Chat's end-to-end tests -------------------------------------------------------


def test_e2e_1_no_query_at_all(server: Server) -> None:
    assert_error(server.admin.get(SYNC), "invalid-params", "must have required property 'roomId' [invalid-params]")


def test_e2e_2_and_9_only_room_id(server: Server) -> None:
    assert_error(
        get(server.admin, roomId=server.room),
        "error-param-required",
        'The "type" or "lastUpdate" parameters must be provided [error-param-required]',
    )


def test_e2e_3_date_checked_before_room(server: Server) -> None:
    assert_error(
        get(server.admin, roomId="invalid-room", lastUpdate="invalid-date"),
        "error-lastUpdate-param-invalid",
        'The "lastUpdate" query parameter must be a valid date [error-lastUpdate-param-invalid]',
    )


def test_e2e_4_unknown_room(server: Server) -> None:
    response = get(server.admin, roomId="invalid-room", lastUpdate=NOW_ISO)
    assert_error(response, "error-not-allowed", "Not allowed [error-not-allowed]")
    assert response.json()["details"] == {"method": "messages/get"}


def test_e2e_5_invalid_type(server: Server) -> None:
    assert_error(
        get(server.admin, roomId=server.room, type="invalid-type", next=NOW_ISO),
        "invalid-params",
        "must be equal to one of the allowed values [invalid-params]",
    )


@pytest.mark.parametrize("cursor", ["next", "previous"])
def test_e2e_6_cursor_without_type(server: Server, cursor: str) -> None:
    assert_error(
        get(server.admin, roomId=server.room, **{cursor: NOW_ISO}),
        "error-param-required",
        'The "type" or "lastUpdate" parameters must be provided [error-param-required]',
    )


def test_e2e_7_next_and_previous(server: Server) -> None:
    assert_error(
        get(server.admin, roomId=server.room, type="UPDATED", next=str(T0), previous=str(T0)),
        "error-cursor-conflict",
        'You cannot provide both "next" and "previous" parameters [error-cursor-conflict]',
    )


def test_e2e_8_cursor_and_last_update(server: Server) -> None:
    assert_error(
        get(server.admin, roomId=server.room, type="UPDATED", next=str(T0), lastUpdate=NOW_ISO),
        "error-cursor-and-lastUpdate-conflict",
        'The attributes "next", "previous" and "lastUpdate" cannot be used together '
        "[error-cursor-and-lastUpdate-conflict]",
    )


def test_e2e_10_quiet_room(server: Server) -> None:
    response = get(server.admin, roomId=server.room, lastUpdate=NOW_ISO)
    assert response.status_code == 200
    assert response.json() == {"result": {"updated": [], "deleted": []}, "success": True}


def test_e2e_11_last_update_mode_with_a_deletion(server: Server) -> None:
    ws, room = server.workspace, server.room
    since = iso_ms(T0)
    first = ws.post(room, "admin", "First Message", at=T0 + 10)
    second = ws.post(room, "admin", "Second Message", at=T0 + 20)
    result = get(server.admin, roomId=room, lastUpdate=since).json()["result"]
    assert [m["_id"] for m in result["updated"]] == [second, first]  # ts descending
    assert result["deleted"] == []
    assert "cursor" not in result
    ws.delete(first, at=T0 + 30)
    result = get(server.admin, roomId=room, lastUpdate=since).json()["result"]
    assert [m["_id"] for m in result["updated"]] == [second]
    assert result["deleted"] == [{"_id": first, "_deletedAt": iso_ms(T0 + 30)}]


def test_e2e_12_updated_cursor_paging(server: Server) -> None:
    ws, room = server.workspace, server.room
    ids = [ws.post(room, "admin", f"m{i}", at=T0 + 10 * (i + 1)) for i in range(3)]
    page = get(server.admin, roomId=room, next=str(T0), type="UPDATED", count=2).json()["result"]
    assert [m["_id"] for m in page["updated"]] == ids[:2]
    assert page["deleted"] == []
    assert page["cursor"] == {"next": str(T0 + 20), "previous": str(T0 + 10)}
    page = get(server.admin, roomId=room, next=page["cursor"]["next"], type="UPDATED", count=2).json()["result"]
    assert [m["_id"] for m in page["updated"]] == ids[2:]
    assert page["cursor"] == {"next": None, "previous": str(T0 + 30)}


def test_e2e_13_deleted_cursor_paging(server: Server) -> None:
    ws, room = server.workspace, server.room
    ids = [ws.post(room, "admin", f"m{i}", at=T0 + 10 * (i + 1)) for i in range(3)]
    empty = get(server.admin, roomId=room, next=str(T0), type="DELETED", count=2).json()["result"]
    assert empty == {"updated": [], "deleted": [], "cursor": {"next": None, "previous": None}}
    for i, msg_id in enumerate(ids):
        ws.delete(msg_id, at=T0 + 100 + i)
    page = get(server.admin, roomId=room, next=str(T0), type="DELETED", count=2).json()["result"]
    assert [d["_id"] for d in page["deleted"]] == ids[:2]
    assert page["cursor"] == {"next": str(T0 + 101), "previous": str(T0 + 100)}
    page = get(server.admin, roomId=room, next=page["cursor"]["next"], type="DELETED", count=2).json()["result"]
    assert [d["_id"] for d in page["deleted"]] == ids[2:]
    assert page["cursor"] == {"next": None, "previous": str(T0 + 102)}


# --- §9: bad input → status, errorType, error ---------------------------------------------------

ROWS = [
    ({}, "invalid-params", "must have required property 'roomId' [invalid-params]"),
    ({"roomId": "ROOM", "type": "updated", "next": "1"}, "invalid-params",
     "must be equal to one of the allowed values [invalid-params]"),
    ({"roomId": "ROOM", "type": ""}, "invalid-params", "must be equal to one of the allowed values [invalid-params]"),
    ({"roomId": "ROOM", "lastUpdate": NOW_ISO, "offset": "0"}, "invalid-params",
     "must NOT have additional properties [invalid-params]"),
    ({"roomId": "ROOM", "lastUpdate": NOW_ISO, "sort": '{"ts":-1}'}, "invalid-params",
     "must NOT have additional properties [invalid-params]"),
    ({"roomId": "ROOM", "lastUpdate": NOW_ISO, "fields": "{}"}, "invalid-params",
     "must NOT have additional properties [invalid-params]"),
    ({"roomId": "ROOM", "type": "UPDATED", "next": "1", "count": "abc"}, "invalid-params",
     "must be number [invalid-params]"),
    ({"roomId": ["ROOM", "OTHER"], "lastUpdate": NOW_ISO}, "invalid-params", "must be string [invalid-params]"),
    ({"roomId[x]": "1", "lastUpdate": NOW_ISO}, "invalid-params", "must be string [invalid-params]"),
    ({"roomId": ""}, "error-param-required", 'The required "roomId" query param is missing [error-param-required]'),
    ({"roomId": "ROOM"}, "error-param-required",
     'The "type" or "lastUpdate" parameters must be provided [error-param-required]'),
    ({"roomId": "ROOM", "lastUpdate": "2024-13-45"}, "error-lastUpdate-param-invalid",
     'The "lastUpdate" query parameter must be a valid date [error-lastUpdate-param-invalid]'),
    ({"roomId": "ROOM", "lastUpdate": "1700000000000"}, "error-lastUpdate-param-invalid",
     'The "lastUpdate" query parameter must be a valid date [error-lastUpdate-param-invalid]'),
    ({"roomId": "NOPE", "lastUpdate": NOW_ISO}, "error-not-allowed", "Not allowed [error-not-allowed]"),
    ({"roomId": "ROOM", "lastUpdate": NOW_ISO, "next": "1"}, "error-type-param-required",
     'The "type" parameter is required when using the "next" or "previous" parameters [error-type-param-required]'),
    ({"roomId": "ROOM", "type": "DELETED", "next": "1", "previous": "2"}, "error-cursor-conflict",
     'You cannot provide both "next" and "previous" parameters [error-cursor-conflict]'),
    ({"roomId": "ROOM", "type": "UPDATED", "previous": "2", "lastUpdate": NOW_ISO},
     "error-cursor-and-lastUpdate-conflict",
     'The attributes "next", "previous" and "lastUpdate" cannot be used together '
     "[error-cursor-and-lastUpdate-conflict]"),
    ({"roomId": "ROOM", "type": "UPDATED", "next": "abc"}, None, "Invalid Date"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "error_type", "error"), ROWS)
def test_bad_input_table(server: Server, query: dict[str, Any], error_type: str | None, error: str) -> None:
    assert_error(get(server.admin, **query), error_type, error)


def test_unauthenticated_is_401_before_anything_else(server: Server) -> None:
    for headers in ({}, {"X-User-Id": "USER", "X-Auth-Token": "wrong"}, {"X-User-Id": "USER"}):
        response = server.anonymous.get(SYNC, headers=headers)  # no query either
        assert response.status_code == 401
        assert response.json() == {
            "success": False,
            "error": "You must be logged in to do this.",
            "status": "error",
            "message": "You must be logged in to do this.",
        }


def test_iso_cursor_is_silently_read_as_epoch(server: Server) -> None:
    msg = server.workspace.post(server.room, "admin", "old news", at=T0)
    result = get(server.admin, roomId=server.room, type="UPDATED", next="2024-05-01T10:00:00.000Z").json()["result"]
    # parseInt("2024-05-01…") == 2024 ms after epoch, so everything since 1970 comes back.
    assert [m["_id"] for m in result["updated"]] == [msg]


def test_type_alone_is_an_empty_success_without_cursor(server: Server) -> None:
    server.workspace.post(server.room, "admin", "hi", at=T0)
    response = get(server.admin, roomId=server.room, type="UPDATED")
    assert response.status_code == 200
    assert response.json() == {"result": {"updated": [], "deleted": []}, "success": True}


def test_success_headers(server: Server) -> None:
    response = get(server.admin, roomId=server.room, lastUpdate=NOW_ISO)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_count_rules(server: Server) -> None:
    ws, room = server.workspace, server.room
    for i in range(25):
        ws.post(room, "admin", f"m{i}", at=T0 + i + 1)
    default = get(server.admin, roomId=room, type="UPDATED", next=str(T0), count="").json()["result"]
    assert len(default["updated"]) == 20  # count= coerces to null → default 20
    big = get(server.admin, roomId=room, type="UPDATED", next=str(T0), count="1e3").json()["result"]
    assert len(big["updated"]) == 25 and big["cursor"]["next"] is None  # no upper cap
    # count=-1 → Mongo limit 0 (no limit), then the "extra row" is dropped: the last real item is lost.
    broken = get(server.admin, roomId=room, type="UPDATED", next=str(T0), count="-1").json()["result"]
    assert len(broken["updated"]) == 24 and broken["cursor"]["next"] == str(T0 + 24)


def test_strict_millisecond_bounds_skip_ties(server: Server) -> None:
    ws, room = server.workspace, server.room
    ids = [ws.post(room, "admin", f"m{i}", at=T0 + 5) for i in range(3)]
    page = get(server.admin, roomId=room, type="UPDATED", next=str(T0), count=2).json()["result"]
    assert [m["_id"] for m in page["updated"]] == ids[:2]
    rest = get(server.admin, roomId=room, type="UPDATED", next=page["cursor"]["next"], count=2).json()["result"]
    assert rest["updated"] == []  # the third message shares the boundary millisecond and is skipped


def test_previous_mode_pages_newest_first(server: Server) -> None:
    ws, room = server.workspace, server.room
    ids = [ws.post(room, "admin", f"m{i}", at=T0 + 10 * (i + 1)) for i in range(3)]
    page = get(server.admin, roomId=room, type="UPDATED", previous=str(T0 + 1000), count=2).json()["result"]
    assert [m["_id"] for m in page["updated"]] == [ids[2], ids[1]]
    assert page["cursor"] == {"next": str(T0 + 30), "previous": str(T0 + 20)}


def test_deleted_pages_sort_by_updated_at_but_bound_by_deleted_at(server: Server) -> None:
    ws, room = server.workspace, server.room
    late_edit = ws.post(room, "admin", "a", at=T0 + 1)
    early_edit = ws.post(room, "admin", "b", at=T0 + 2)
    ws.edit(late_edit, "a2", at=T0 + 50)
    ws.delete(late_edit, at=T0 + 100)
    ws.delete(early_edit, at=T0 + 200)
    page = get(server.admin, roomId=room, type="DELETED", next=str(T0), count=1).json()["result"]
    # Sorted by _updatedAt: the later-deleted message comes first, and its _deletedAt becomes the cursor…
    assert page["deleted"] == [{"_id": early_edit, "_deletedAt": iso_ms(T0 + 200)}]
    assert page["cursor"]["next"] == str(T0 + 200)
    rest = get(server.admin, roomId=room, type="DELETED", next=page["cursor"]["next"], count=1).json()["result"]
    assert rest["deleted"] == []  # …so the earlier deletion is skipped by a client that follows it.


def test_deletion_matrix() -> None:
    def run(**settings: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        ws, room = bare_workspace()
        ws.keep_history = settings.get("keep_history", False)
        ws.show_deleted_status = settings.get("show_deleted_status", False)
        msg = ws.post(room, "admin", "secret", at=T0 + 1)
        ws.delete(msg, at=T0 + 2)
        with in_process(Emulator(ws), ADMIN_HEADERS) as admin:
            response = admin.get(SYNC, params={"roomId": room, "lastUpdate": iso_ms(T0)})
        result = response.json()["result"]
        return result["updated"], result["deleted"]

    updated, deleted = run()
    assert updated == [] and len(deleted) == 1
    updated, deleted = run(show_deleted_status=True)
    assert deleted == [] and updated[0]["t"] == "rm" and updated[0]["msg"] == ""
    updated, deleted = run(keep_history=True, show_deleted_status=True)
    assert deleted == [] and [m["t"] for m in updated] == ["rm"]  # the hidden clone stays hidden
    updated, deleted = run(keep_history=True)
    assert updated == [] and deleted == []  # invisible: a syncing client keeps a stale copy


def test_thread_parent_deletion_is_always_a_placeholder(server: Server) -> None:
    ws, room = server.workspace, server.room
    parent = ws.post(room, "admin", "parent", at=T0 + 1)
    ws.post(room, "user", "reply", tmid=parent, at=T0 + 2)
    ws.delete(parent, at=T0 + 3)
    result = get(server.admin, roomId=room, lastUpdate=iso_ms(T0)).json()["result"]
    assert result["deleted"] == []
    assert {m["_id"]: m.get("t") for m in result["updated"]}[parent] == "rm"


def test_private_room_needs_membership(server: Server) -> None:
    private = server.workspace.add_room("private", t="p", members=["admin"])
    assert_error(
        get(server.user, roomId=private.id, lastUpdate=NOW_ISO),
        "error-not-allowed",
        "Not allowed [error-not-allowed]",
    )
    assert get(server.admin, roomId=private.id, lastUpdate=NOW_ISO).status_code == 200


def test_naive_last_update_is_read_in_server_time_zone() -> None:
    from datetime import timedelta, timezone

    ws, room = bare_workspace()
    msg = ws.post(room, "admin", "at 09:30Z", at=T0 + 30 * 60_000)
    emulator = Emulator(ws, server_tz=timezone(timedelta(hours=-3)))
    with in_process(emulator, ADMIN_HEADERS) as admin:
        # "2026-11-20T09:00" means 12:00Z on this server
        response = admin.get(SYNC, params={"roomId": room, "lastUpdate": "2026-11-20T09:00"})
    assert msg not in [m["_id"] for m in response.json()["result"]["updated"]]


# --- §6.3 rate limiting -------------------------------------------------------------------------


def test_rate_limit_headers_and_429(limited_server: Server) -> None:
    server = limited_server
    remaining = []
    for _ in range(3):
        response = get(server.user, roomId=server.room, lastUpdate=NOW_ISO)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = get(server.user, roomId=server.room, lastUpdate=NOW_ISO)
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert reset > T0  # epoch milliseconds
    body = refused.json()
    assert body["success"] is False and "errorType" not in body
    assert body["error"].startswith("Error, too many requests. Please slow down. You must wait ")
    assert body["error"].endswith(" seconds before trying this endpoint again. [error-too-many-requests]")


def test_legacy_router_counts_malformed_requests_typed_router_does_not() -> None:
    from rc_mcp.emulator import RateLimiter

    for router, expected in (("legacy", 429), ("typed", 200)):
        ws, room = bare_workspace()
        emulator = Emulator(ws, rate_limiter=RateLimiter(calls=2), router=router)  # type: ignore[arg-type]
        with in_process(emulator, USER_HEADERS) as client:
            for _ in range(2):
                bad = client.get(SYNC, params={"roomId": room, "offset": "0"})
                assert bad.status_code == 400
            good = client.get(SYNC, params={"roomId": room, "lastUpdate": NOW_ISO})
            assert good.status_code == expected, router


def test_typed_router_schema_error_shape() -> None:
    ws, _ = bare_workspace()
    with in_process(Emulator(ws, router="typed"), USER_HEADERS) as client:
        response = client.get(SYNC)
    assert_error(response, "error-invalid-params", "must have required property 'roomId'")


def test_admin_and_bots_bypass_the_limiter(limited_server: Server) -> None:
    for _ in range(5):
        response = get(limited_server.admin, roomId=limited_server.room, lastUpdate=NOW_ISO)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


# --- the routes around it -----------------------------------------------------------------------


def test_me_info_and_rooms_info(server: Server) -> None:
    me = server.user.get("/api/v1/me").json()
    assert me["_id"] == "USER" and me["username"] == "user" and me["success"] is True
    assert server.user.get("/api/info").json()["success"] is True
    room = server.user.get("/api/v1/rooms.info", params={"roomName": "conformance"}).json()
    assert room["room"]["_id"] == server.room
    missing = server.user.get("/api/v1/rooms.info", params={"roomName": "nope"})
    assert missing.json()["errorType"] == "error-room-not-found"


def test_rest_writes_stamp_updated_at(server: Server) -> None:
    posted = server.user.post("/api/v1/chat.postMessage", json={"roomId": server.room, "text": "hello"}).json()
    msg_id = posted["message"]["_id"]
    assert server.user.post("/api/v1/chat.react", json={"messageId": msg_id, "emoji": ":+1:"}).json()["success"]
    assert server.user.post("/api/v1/chat.update", json={"roomId": server.room, "msgId": msg_id, "text": "edited"})
    updated = get(server.user, roomId=server.room, lastUpdate=iso_ms(T0)).json()["result"]["updated"]
    assert updated[0]["msg"] == "edited" and updated[0]["reactions"] == {":+1:": {"usernames": ["user"]}}
    server.user.post("/api/v1/chat.delete", json={"roomId": server.room, "msgId": msg_id})
    result = get(server.user, roomId=server.room, lastUpdate=iso_ms(T0)).json()["result"]
    assert result["updated"] == [] and result["deleted"][0]["_id"] == msg_id


def test_workspace_is_usable_without_http() -> None:
    ws = Workspace()
    ws.add_user("a")
    room = ws.add_room("r")
    msg = ws.post(room.id, "a", "x")
    assert ws.find_updates(room.id)[0]["_id"] == msg
