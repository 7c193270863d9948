"""Rooms and subscriptions against docs/research/rocketchat-rooms.md ("rooms §n").

``GET /api/v1/subscriptions.get`` and ``GET /api/v1/rooms.get`` over real HTTP, the counter
bookkeeping of posting, editing, deleting and reading (at the workspace level, where the state is
visible), and the demo workspace's additions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from rc_mcp.emulator import Emulator, RateLimiter, Workspace, demo_workspace
from rc_mcp.emulator.seed import DEMO_USER, at
from rc_mcp.emulator.workspace import iso_ms
from tests.conftest import in_process

T0 = 1_795_165_200_000  # 2026-11-20T09:00:00Z
NOW = T0 + 3_600_000
SUBS = "/api/v1/subscriptions.get"
ROOMS = "/api/v1/rooms.get"


def workspace(**options: Any) -> Workspace:
    """Ann (the caller), Ben and Cid; #team-chat with all three, created by Ben at T0."""
    ws = Workspace(clock=lambda: NOW, **options)
    ws.add_user("ann", name="Ann Lee", token="ann-token", user_id="ANN")
    ws.add_user("ben", name="Ben Ode", token="ben-token", user_id="BEN")
    ws.add_user("cid", name="Cid Roy", user_id="CID")
    ws.add_room("team-chat", room_id="CHAT", members=["ann", "ben", "cid"], at=T0)
    return ws


def sub(ws: Workspace, room: str, user: str) -> dict[str, Any]:
    return ws.subscriptions[room][user]


ANN = {"X-User-Id": "ANN", "X-Auth-Token": "ann-token"}


@dataclass
class Served:
    ws: Workspace
    emulator: Emulator
    ann: httpx.Client


@pytest.fixture
def served() -> Iterator[Served]:
    ws = workspace()
    emulator = Emulator(ws)
    with in_process(emulator, ANN) as ann:
        yield Served(ws, emulator, ann)


def assert_error(response: httpx.Response, error_type: str | None, error: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["error"] == error and body.get("errorType") == error_type


# --- subscriptions.get (rooms §1) -----------------------------------------------------------------


def test_subscriptions_get_lists_every_subscription_with_its_fields(served: Served) -> None:
    response = served.ann.get(SUBS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"update", "remove", "success"} and body["remove"] == [] and body["success"] is True
    (chat,) = body["update"]
    assert chat == {
        "_id": chat["_id"],
        "open": True,  # createRoom opens every member's subscription
        "alert": False,
        "unread": 0,
        "userMentions": 0,
        "groupMentions": 0,
        "ts": iso_ms(T0),
        "rid": "CHAT",
        "name": "team-chat",
        "fname": "team-chat",
        "t": "c",
        "u": {"_id": "ANN", "username": "ann", "name": "Ann Lee"},
        "_updatedAt": iso_ms(T0),
    }  # no ls: only an owner's subscription starts read; no teamMain/teamId: not projected
    assert chat["_id"] != "CHAT"  # the subscription's own id, not the room's


def test_subscriptions_get_delta(served: Served) -> None:
    ws = served.ws
    assert served.ann.get(SUBS, params={"updatedSince": iso_ms(NOW)}).json() == {
        "update": [],
        "remove": [],
        "success": True,
    }  # the E2E test: nothing changed since now
    ws.post("CHAT", "ben", "hi", at=T0 + 10)  # alerts Ann: her subscription moves
    delta = served.ann.get(SUBS, params={"updatedSince": iso_ms(T0 + 9)}).json()
    assert [s["rid"] for s in delta["update"]] == ["CHAT"]
    strict = served.ann.get(SUBS, params={"updatedSince": iso_ms(T0 + 10)}).json()
    assert strict["update"] == []  # strictly greater
    gone = sub(ws, "CHAT", "ANN")["_id"]
    ws.leave("CHAT", "ann", at=T0 + 20)
    after = served.ann.get(SUBS, params={"updatedSince": iso_ms(T0 + 15)}).json()
    assert after == {"update": [], "remove": [{"_id": gone, "_deletedAt": iso_ms(T0 + 20)}], "success": True}
    assert served.ann.get(SUBS).json()["remove"] == []  # without a date, removals are never listed


def test_subscriptions_get_empty_updated_since_is_absent(served: Served) -> None:
    assert served.ann.get(SUBS, params={"updatedSince": ""}).json() == served.ann.get(SUBS).json()


@pytest.mark.parametrize(
    ("query", "error_type", "error"),
    [
        ({"count": "10"}, "invalid-params", "must NOT have additional properties [invalid-params]"),
        ({"updatedSince": "x", "offset": "0"}, "invalid-params",
         "must NOT have additional properties [invalid-params]"),
        ({"updatedSince": [iso_ms(T0), iso_ms(T0)]}, "invalid-params", "must be string [invalid-params]"),
        ({"updatedSince": "not a date"}, "error-roomId-param-invalid",
         'The "lastUpdate" query parameter must be a valid date. [error-roomId-param-invalid]'),
        ({"updatedSince": "1700000000000"}, "error-roomId-param-invalid",
         'The "lastUpdate" query parameter must be a valid date. [error-roomId-param-invalid]'),
    ],
)  # fmt: skip
def test_subscriptions_get_errors(served: Served, query: dict[str, Any], error_type: str, error: str) -> None:
    """rooms §1.1–§1.2: a schema with only updatedSince; the bad-date string names lastUpdate (sic)."""
    assert_error(served.ann.get(SUBS, params=query), error_type, error)


def test_subscriptions_get_typed_router_schema_shape() -> None:
    with in_process(Emulator(workspace(), version="8.8.0"), ANN) as ann:
        response = ann.get(SUBS, params={"count": "1"})
    assert_error(response, "error-invalid-params", "must NOT have additional properties")


def test_both_routes_authenticate_first_then_rate_limit() -> None:
    """rooms §6.1: the 401 body of the reference, then the default limiter (a malformed
    subscriptions.get still costs budget on the legacy router)."""
    ws = workspace()
    emulator = Emulator(ws, rate_limiter=RateLimiter(calls=2))
    with in_process(emulator, ANN) as ann, in_process(emulator) as anonymous:
        for path in (SUBS, ROOMS):
            assert anonymous.get(path).json()["error"] == "You must be logged in to do this."
        assert ann.get(SUBS, params={"bad": "1"}).status_code == 400
        ok = ann.get(SUBS)
        assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining"] == "0"
        assert ann.get(SUBS).status_code == 429
        assert ann.get(ROOMS).headers["x-ratelimit-limit"] == "2"  # its own window (per route)


# --- rooms.get (rooms §2) -------------------------------------------------------------------------


def test_rooms_get_lists_exactly_the_subscribed_rooms(served: Served) -> None:
    ws = served.ws
    ws.add_room("elsewhere", members=["ben"])  # public, but Ann is not subscribed
    ws.add_room("secret", t="p", members=["ann", "ben"], room_id="SECRET")
    dm = ws.add_dm("ben", "ann", at=T0 + 5)
    discussion = ws.add_discussion("CHAT", "Lunch?", by="ben", members=["ann"], at=T0 + 6)
    body = served.ann.get(ROOMS).json()
    assert body["remove"] == [] and body["success"] is True
    assert sorted(r["_id"] for r in body["update"]) == sorted(["CHAT", "SECRET", dm.id, discussion.id])


def test_rooms_get_room_shapes(served: Served) -> None:
    ws = served.ws
    dm = ws.add_dm("ben", "ann", at=T0 + 5)
    discussion = ws.add_discussion("CHAT", "Lunch?", by="ben", members=["ann"], at=T0 + 6)
    team = ws.add_room("squad", fname="The Squad", team_main=True, owner="ben", members=["ann"], at=T0 + 7)
    rooms = {r["_id"]: r for r in served.ann.get(ROOMS).json()["update"]}
    assert rooms[dm.id] == {
        "_id": "ANNBEN",  # the two user ids, sorted and joined
        "t": "d",
        "usernames": ["ann", "ben"],
        "uids": ["ANN", "BEN"],
        "ts": iso_ms(T0 + 5),
        "_updatedAt": iso_ms(T0 + 5),
        "msgs": 0,
        "usersCount": 2,
    }  # no name, fname or u (rooms §2.3)
    assert rooms[discussion.id]["prid"] == "CHAT" and rooms[discussion.id]["fname"] == "Lunch?"
    assert rooms[discussion.id]["t"] == "c" and rooms[discussion.id]["name"] != "Lunch?"  # name: a random id
    assert rooms[team.id]["teamMain"] is True and rooms[team.id]["teamId"]
    assert rooms[team.id]["u"] == {"_id": "BEN", "username": "ben", "name": "Ben Ode"}
    # The discussion was announced in its parent.
    announcement = ws.find_updates("CHAT")[-1]
    assert (announcement["t"], announcement["drid"]) == ("discussion-created", discussion.id)


def test_rooms_get_delta_and_removals(served: Served) -> None:
    ws = served.ws
    ws.add_room("other", members=["ben"], room_id="OTHER", at=T0)
    ws.add_room("side", members=["ann", "ben"], room_id="SIDE", at=T0)
    ws.post("CHAT", "ben", "hello", at=T0 + 10)
    delta = served.ann.get(ROOMS, params={"updatedSince": iso_ms(T0 + 5)}).json()
    assert [r["_id"] for r in delta["update"]] == ["CHAT"]
    ws.leave("SIDE", "ann", at=T0 + 20)  # leaving: not a room removal (rooms §2.2)
    ws.erase_room("OTHER", at=T0 + 30)  # never Ann's, still listed: removals are server-wide
    after = served.ann.get(ROOMS, params={"updatedSince": iso_ms(T0 + 15)}).json()
    assert after["update"] == []
    assert after["remove"] == [{"_id": "OTHER", "_deletedAt": iso_ms(T0 + 30)}]


@pytest.mark.parametrize("value", ["not a date", "1700000000000"])
def test_rooms_get_bad_date(served: Served, value: str) -> None:
    assert_error(
        served.ann.get(ROOMS, params={"updatedSince": value}),
        "error-updatedSince-param-invalid",
        'The "updatedSince" query parameter must be a valid date. [error-updatedSince-param-invalid]',
    )


def test_rooms_get_ignores_unknown_parameters(served: Served) -> None:
    """No query schema on rooms.get (rooms §2.1)."""
    assert served.ann.get(ROOMS, params={"count": "1", "offset": "5"}).json() == served.ann.get(ROOMS).json()


def test_rooms_info_shows_the_same_room_document(served: Served) -> None:
    served.ws.post("CHAT", "ben", "hello", at=T0 + 10)
    info = served.ann.get("/api/v1/rooms.info", params={"roomId": "CHAT"}).json()["room"]
    listed = served.ann.get(ROOMS).json()["update"][0]
    assert info == {**listed, "archived": False}


# --- counters on post (rooms §3.1) ----------------------------------------------------------------


def test_plain_channel_message_alerts_without_unread() -> None:
    ws = workspace()
    ws.post("CHAT", "ben", "hello", at=T0 + 10)
    ann = sub(ws, "CHAT", "ANN")
    assert (ann["alert"], ann["unread"], ann["userMentions"], ann["_updatedAt"]) == (True, 0, 0, T0 + 10)
    ben = sub(ws, "CHAT", "BEN")  # 7.x: the sender's subscription is marked read
    assert (ben["alert"], ben["unread"], ben["ls"], ben["_updatedAt"]) == (False, 0, T0 + 10, T0 + 10)
    ws.post("CHAT", "ben", "again", at=T0 + 20)
    assert sub(ws, "CHAT", "ANN")["_updatedAt"] == T0 + 10  # already alerted and open: not matched again
    room = ws.rooms["CHAT"]
    assert (room.msgs, room.lm, room.updated_at) == (2, T0 + 20, T0 + 20)
    assert room.last_message is not None and room.last_message["msg"] == "again"


def test_user_mention_counts_for_the_mentioned_only() -> None:
    ws = workspace()
    msg = ws.post("CHAT", "ben", "@ann can you look? cc @nobody and @ben", at=T0 + 10)
    ann, cid = sub(ws, "CHAT", "ANN"), sub(ws, "CHAT", "CID")
    assert (ann["userMentions"], ann["unread"], ann["alert"]) == (1, 1, True)
    assert (cid["userMentions"], cid["unread"], cid["alert"]) == (0, 0, True)
    assert ws.messages[msg]["mentions"] == [
        {"_id": "ANN", "username": "ann", "name": "Ann Lee", "type": "user"},
        {"_id": "BEN", "username": "ben", "name": "Ben Ode", "type": "user"},  # self-mention: no count
    ]


@pytest.mark.parametrize("group", ["@all", "@here"])
def test_group_mention_counts_for_everyone_but_the_sender(group: str) -> None:
    ws = workspace()
    msg = ws.post("CHAT", "ben", f"{group} standup in 5", at=T0 + 10)
    for user in ("ANN", "CID"):
        assert (sub(ws, "CHAT", user)["groupMentions"], sub(ws, "CHAT", user)["unread"]) == (1, 1)
    assert sub(ws, "CHAT", "BEN")["groupMentions"] == 0
    assert ws.messages[msg]["mentions"] == [{"_id": group[1:], "username": group[1:]}]


def test_user_mentions_win_over_group_mentions() -> None:
    """notifyUsersOnMessage: ``if (userIds.size > 0) … else if (toAll || toHere)``."""
    ws = workspace()
    ws.post("CHAT", "ben", "@all and especially @ann", at=T0 + 10)
    assert (sub(ws, "CHAT", "ANN")["userMentions"], sub(ws, "CHAT", "ANN")["groupMentions"]) == (1, 0)
    assert (sub(ws, "CHAT", "CID")["groupMentions"], sub(ws, "CHAT", "CID")["unread"]) == (0, 0)


@pytest.mark.parametrize("text", ["[@ann](https://example.com)", "quote>@ann", "mail ann@ann.dev", "@annie"])
def test_what_is_not_a_mention(text: str) -> None:
    """MentionsParser: markdown links are removed first; a ``>`` prefix keeps the ``@`` (quirk);
    a name must follow whitespace or the start; names must match a user exactly."""
    ws = workspace()
    msg = ws.post("CHAT", "ben", text, at=T0 + 10)
    assert ws.messages[msg]["mentions"] == []
    assert sub(ws, "CHAT", "ANN")["userMentions"] == 0


def test_mention_of_a_non_member_changes_no_subscription() -> None:
    ws = workspace()
    ws.add_user("dee", user_id="DEE")
    msg = ws.post("CHAT", "ben", "@dee welcome", at=T0 + 10)
    assert [m["_id"] for m in ws.messages[msg]["mentions"]] == ["DEE"]
    assert "DEE" not in ws.subscriptions["CHAT"]


def test_dm_counts_every_message_and_a_mention_once() -> None:
    """Unread_Count_DM defaults to all_messages (rooms §3.1)."""
    ws = workspace()
    dm = ws.add_dm("ben", "ann", at=T0)
    ws.post(dm.id, "ben", "ping", at=T0 + 10)
    ws.post(dm.id, "ben", "@ann pong", at=T0 + 20)
    ann = sub(ws, dm.id, "ANN")
    assert (ann["unread"], ann["userMentions"], ann["alert"], ann["open"]) == (2, 1, True, True)
    assert ann["name"] == "ben" and ann["fname"] == "Ben Ode" and ann["u"] == {"_id": "ANN", "username": "ann"}
    assert "ls" not in ann


def test_unread_count_setting_all_messages_in_channels() -> None:
    ws = workspace(unread_count="all_messages")
    ws.post("CHAT", "ben", "one", at=T0 + 10)
    ws.post("CHAT", "ben", "two", at=T0 + 20)
    assert sub(ws, "CHAT", "ANN")["unread"] == 2


def test_6x_leaves_the_senders_subscription_alone() -> None:
    ws = workspace(sender_marks_read=False)
    before = dict(sub(ws, "CHAT", "BEN"))
    ws.post("CHAT", "ben", "hello", at=T0 + 10)
    assert sub(ws, "CHAT", "BEN") == before


def test_thread_only_reply_counts_in_msgs_and_alerts_followers() -> None:
    ws = workspace()
    parent = ws.post("CHAT", "ann", "who is on call?", at=T0 + 10)
    ws.mark_read("CHAT", "ann", at=T0 + 11)
    ws.post("CHAT", "ben", "@cid me", tmid=parent, at=T0 + 20)
    room = ws.rooms["CHAT"]
    assert (room.msgs, room.lm, room.updated_at) == (2, T0 + 10, T0 + 20)  # lm unchanged
    ann = sub(ws, "CHAT", "ANN")  # the thread's author follows it
    assert (ann["alert"], ann["unread"], ann["tunread"], ann["lr"]) == (True, 0, [parent], T0 + 20)
    assert sub(ws, "CHAT", "CID")["userMentions"] == 0  # no mention counters for thread messages
    assert sub(ws, "CHAT", "BEN")["lr"] == T0 + 20 and "tunread" not in sub(ws, "CHAT", "BEN")


def test_reply_also_sent_to_the_room_moves_lm_but_counts_no_mentions() -> None:
    ws = workspace()
    parent = ws.post("CHAT", "ann", "who is on call?", at=T0 + 10)
    ws.post("CHAT", "ben", "@cid me", tmid=parent, tshow=True, at=T0 + 20)
    assert ws.rooms["CHAT"].lm == T0 + 20
    assert sub(ws, "CHAT", "CID")["userMentions"] == 0


def test_join_and_leave() -> None:
    ws = workspace()
    ws.add_user("dee", user_id="DEE")
    ws.join("CHAT", "dee", at=T0 + 10)
    dee = sub(ws, "CHAT", "DEE")
    assert (dee["open"], dee["alert"], dee["unread"], dee["userMentions"], dee["ts"]) == (True, True, 1, 1, T0 + 10)
    assert ws.find_updates("CHAT")[-1]["t"] == "uj"
    ws.leave("CHAT", "dee", at=T0 + 20)
    assert "DEE" not in ws.subscriptions["CHAT"] and "DEE" not in ws.rooms["CHAT"].members
    assert ws.find_updates("CHAT")[-1]["t"] == "ul"
    (trashed,) = ws.subscription_trash.values()
    assert trashed["_deletedAt"] == T0 + 20


# --- edit, delete, read (rooms §3.2, §3.3) --------------------------------------------------------


def test_edit_replaces_last_message_only_if_it_is_the_last_and_never_moves_lm() -> None:
    ws = workspace()
    first = ws.post("CHAT", "ben", "first", at=T0 + 10)
    last = ws.post("CHAT", "ben", "last", at=T0 + 20)
    ws.edit(first, "first, edited", at=T0 + 30)
    room = ws.rooms["CHAT"]
    assert (room.updated_at, room.lm, room.last_message and room.last_message["msg"]) == (T0 + 20, T0 + 20, "last")
    ws.edit(last, "last, edited", at=T0 + 40)
    assert (room.updated_at, room.lm, room.last_message and room.last_message["msg"]) == (
        T0 + 40,
        T0 + 20,
        "last, edited",
    )


def test_delete_decrements_msgs_keeps_lm_and_counters_and_resets_last_message() -> None:
    ws = workspace()
    ws.post("CHAT", "ben", "@ann first", at=T0 + 10)
    ws.post("CHAT", "ben", "", t="uj", at=T0 + 15)  # system messages are never lastMessage
    last = ws.post("CHAT", "ben", "last", at=T0 + 20)
    ws.delete(last, at=T0 + 30)
    room = ws.rooms["CHAT"]
    assert (room.msgs, room.lm, room.updated_at) == (2, T0 + 20, T0 + 30)
    assert room.last_message is not None and room.last_message["msg"] == "@ann first"
    assert sub(ws, "CHAT", "ANN")["userMentions"] == 1


def test_mark_read() -> None:
    ws = workspace()
    parent = ws.post("CHAT", "ann", "thread", at=T0 + 1)
    ws.post("CHAT", "ben", "@ann reply", tmid=parent, at=T0 + 2)
    ws.post("CHAT", "ben", "@ann hello", at=T0 + 3)
    ws.mark_read("CHAT", "ann", at=T0 + 10)
    ann = sub(ws, "CHAT", "ANN")
    assert (ann["unread"], ann["userMentions"], ann["groupMentions"], ann["ls"], ann["open"]) == (
        0,
        0,
        0,
        T0 + 10,
        True,
    )
    assert ann["alert"] is True and ann["tunread"] == [parent]  # unread threads keep the alert
    ws.mark_read("CHAT", "ann", at=T0 + 20, read_threads=True)
    assert ann["alert"] is False and "tunread" not in ann and ann["_updatedAt"] == T0 + 20


def test_subscriptions_read_route(served: Served) -> None:
    served.ws.post("CHAT", "ben", "@ann hi", at=T0 + 10)
    assert served.ann.post("/api/v1/subscriptions.read", json={"rid": "CHAT"}).json() == {"success": True}
    assert sub(served.ws, "CHAT", "ANN")["userMentions"] == 0 and sub(served.ws, "CHAT", "ANN")["ls"] == NOW
    missing = served.ann.post("/api/v1/subscriptions.read", json={"roomId": "NOPE"})
    assert missing.status_code == 400 and missing.json() == {"success": False, "error": "error-invalid-subscription"}


# --- access (reference §7) ------------------------------------------------------------------------


def test_team_and_discussion_access() -> None:
    ws = workspace()
    private_team = ws.add_room("core", t="p", team_main=True, members=["ben"])
    inner = ws.add_room("core-chat", team_id=private_team.team_id, members=["ben"])
    assert not ws.can_access("ANN", inner.id) and ws.can_access("BEN", inner.id)
    public_team = ws.add_room("open", team_main=True, members=["ben"])
    assert ws.can_access("ANN", ws.add_room("open-chat", team_id=public_team.team_id).id)
    secret = ws.add_room("secret", t="p", members=["ben"])
    discussion = ws.add_discussion(secret.id, "plans", by="ben")
    assert discussion.t == "p" and not ws.can_access("ANN", discussion.id)
    ws.join(secret.id, "ann", at=T0 + 5, announce=False)
    assert ws.can_access("ANN", discussion.id)  # inherited from the parent


def test_dm_needs_two_users() -> None:
    with pytest.raises(ValueError, match="two different users"):
        workspace().add_dm("ann", "ann")


# --- the demo workspace ---------------------------------------------------------------------------


def test_demo_workspace_has_a_dm_and_a_mention_for_the_agent() -> None:
    demo = demo_workspace()
    ws, agent = demo.workspace, demo.user_id
    dm = sub(ws, demo.dm, agent)
    assert (dm["t"], dm["name"], dm["unread"], dm["userMentions"], dm["alert"]) == ("d", "alice", 2, 1, True)
    team = sub(ws, demo.team, agent)
    assert (team["userMentions"], team["groupMentions"], team["unread"]) == (1, 1, 2)
    assert ws.rooms[demo.team].team_main and ws.rooms[demo.discussion].prid == demo.general
    assert demo.discussion == "DISC1"  # the room the #general announcement points to
    general = sub(ws, demo.general, agent)
    assert (general["alert"], general["ls"]) == (False, at(26))
    assert "BOB" not in ws.subscriptions[demo.general]  # bob left at 09:14
    assert {s["u"]["username"] for s in ws.subscriptions[demo.general].values()} >= {"dmitri", DEMO_USER}


def test_demo_additions_come_after_the_original_ids() -> None:
    """The original rooms' ids and messages are those of the seed before the additions."""
    demo = demo_workspace()
    ws = demo.workspace
    original = {demo.general, demo.dev, demo.support, demo.secret}
    added = {demo.dm, demo.team, demo.discussion}
    assert not original & added
    assert demo.dev == "Z6y7Kapn65rpMmgox"  # pinned by tests/golden/dev_cursor_page.txt
    order = list(ws.messages)
    first_added = min(order.index(i) for i, m in ws.messages.items() if m["rid"] in added)
    assert all(ws.messages[i]["rid"] in original for i in order[:first_added])
    assert all(ws.messages[i]["rid"] in added for i in order[first_added:])


def test_demo_rooms_get_for_the_agent() -> None:
    demo = demo_workspace()
    with in_process(Emulator(demo.workspace), {"X-User-Id": demo.user_id, "X-Auth-Token": demo.token}) as agent:
        rooms = agent.get(ROOMS).json()["update"]
        subs = agent.get(SUBS).json()["update"]
    expected = {demo.general, demo.dev, demo.support, demo.dm, demo.team, demo.discussion}
    assert {r["_id"] for r in rooms} == expected == {s["rid"] for s in subs}
    assert demo.secret not in {r["_id"] for r in rooms}
