"""The emulator's data: users, rooms, subscriptions, messages and the trash, with Rocket.Chat's write rules.

Every write stamps ``_updatedAt`` (reference §4.3); deletions follow the KeepHistory /
ShowDeletedStatus matrix (§5.2). Posting keeps rooms (``msgs``, ``lm``, ``lastMessage``) and each
member's subscription (``unread``, ``userMentions``, ``groupMentions``, ``alert``, ``open``, ``ls``)
as the server does (docs/research/rocketchat-rooms.md, "rooms §n"). Times are integers (ms since
epoch) inside, ISO strings on the wire. Methods take an optional ``at`` (ms) so tests and seeds
control time exactly; without it the clock is used. All methods are thread-safe: the HTTP server
runs in another thread than the test.
"""

from __future__ import annotations

import copy
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from rc_mcp.emulator.mentions import GROUP_MENTIONS, mentioned_names

Doc = dict[str, Any]
# The Unread_Count* setting values (rooms §3.1).
UnreadCount = Literal["all_messages", "user_mentions_only", "group_mentions_only", "user_and_group_mentions_only"]

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
_DATE_FIELDS = ("ts", "_updatedAt", "editedAt", "tlm", "pinnedAt", "dlm", "_deletedAt", "ls", "lr", "lm")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_ms(ms: int) -> str:
    """A JS ``Date`` serialised as JSON: ISO-8601 UTC with milliseconds and Z."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_wire(doc: Doc) -> Doc:
    """A stored document as the REST API serialises it (dates as ISO strings, internals dropped)."""
    out = copy.deepcopy(doc)
    for name in _DATE_FIELDS:
        if isinstance(out.get(name), int):
            out[name] = iso_ms(out[name])
    out.pop("_hidden", None)
    out.pop("__collection__", None)
    return out


@dataclass
class User:
    id: str
    username: str
    name: str
    roles: set[str]
    token_hash: str | None = None

    def check_token(self, token: str) -> bool:
        return self.token_hash is not None and self.token_hash == _hash(token)

    @property
    def bypasses_rate_limit(self) -> bool:
        # Default holders of api-bypass-rate-limit.
        return bool(self.roles & {"admin", "bot", "app"})


@dataclass
class Room:
    id: str
    name: str  # unique slug; "" for DMs, which have no name (rooms §2.3)
    t: str  # 'c' public channel, 'p' private group, 'd' direct message
    members: set[str] = field(default_factory=set)  # user ids, one subscription each
    archived: bool = False
    topic: str | None = None
    ts: int = 0
    fname: str | None = None  # display name (a discussion's title); None: same as name
    owner: str | None = None  # creator's user id, the room's ``u``
    prid: str | None = None  # parent room of a discussion
    team_id: str | None = None  # set on a team's main room and on the team's rooms
    team_main: bool = False
    msgs: int = 0
    lm: int | None = None  # ts of the last counted top-level message
    last_message: Doc | None = None  # Store_Last_Message
    updated_at: int = 0  # the room document's own _updatedAt


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NotFound(KeyError):
    """An id the workspace does not hold."""


class Workspace:
    """An in-memory Rocket.Chat workspace."""

    def __init__(
        self,
        *,
        clock: Callable[[], int] | None = None,
        keep_history: bool = False,
        show_deleted_status: bool = False,
        seed: int = 7,
        sender_marks_read: bool = True,
        store_last_message: bool = True,
        unread_count: UnreadCount = "user_and_group_mentions_only",
        unread_count_dm: UnreadCount = "all_messages",
    ) -> None:
        """``sender_marks_read``: posting marks the room read for the sender (7.x by 7.7.5, rooms §3.1
        item 5; 6.x leaves the sender's subscription alone). ``unread_count``/``unread_count_dm``:
        the ``Unread_Count``/``Unread_Count_DM`` settings, defaults as shipped (rooms §3.1)."""
        self._lock = threading.RLock()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._random = random.Random(seed)
        # Subscription ids come from their own sequence, so adding members never shifts the ids of
        # rooms and messages created after them (seeded workspaces stay stable).
        self._subscription_random = random.Random(f"subscriptions-{seed}")
        self.keep_history = keep_history
        self.show_deleted_status = show_deleted_status
        self.sender_marks_read = sender_marks_read
        self.store_last_message = store_last_message
        self.unread_count: UnreadCount = unread_count
        self.unread_count_dm: UnreadCount = unread_count_dm
        self.users: dict[str, User] = {}
        self.rooms: dict[str, Room] = {}
        self.messages: dict[str, Doc] = {}
        self.trash: dict[str, Doc] = {}
        self.subscriptions: dict[str, dict[str, Doc]] = {}  # room id → user id → subscription
        self.subscription_trash: dict[str, Doc] = {}
        self.room_trash: dict[str, Doc] = {}

    # --- identity -------------------------------------------------------------------------------

    def new_id(self) -> str:
        with self._lock:
            return "".join(self._random.choice(_ID_ALPHABET) for _ in range(17))

    def now(self) -> int:
        return self._clock()

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        token: str | None = None,
        roles: Iterable[str] = ("user",),
        user_id: str | None = None,
    ) -> User:
        with self._lock:
            user = User(
                id=user_id or self.new_id(),
                username=username,
                name=name or username,
                roles=set(roles),
                token_hash=_hash(token) if token else None,
            )
            self.users[user.id] = user
            return user

    def user_by_name(self, username: str) -> User:
        with self._lock:
            for user in self.users.values():
                if user.username == username:
                    return user
        raise NotFound(username)

    def authenticate(self, user_id: str, token: str) -> User | None:
        with self._lock:
            user = self.users.get(user_id)
            return user if user is not None and user.check_token(token) else None

    def add_room(
        self,
        name: str,
        *,
        t: str = "c",
        members: Iterable[str] = (),
        room_id: str | None = None,
        topic: str | None = None,
        at: int | None = None,
        owner: str | None = None,
        fname: str | None = None,
        prid: str | None = None,
        team_id: str | None = None,
        team_main: bool = False,
    ) -> Room:
        """Create a room like ``createRoom``: every member (and the ``owner``) gets a subscription
        with ``open: true``; the owner's also has ``ls`` (read up to now), the others' none.
        ``team_main`` makes it a team's main room (with a new ``team_id`` unless one is given)."""
        with self._lock:
            now = self._at(at)
            owner_user = self.user_by_name(owner) if owner else None
            room = Room(
                id=room_id or self.new_id(),
                name=name,
                t=t,
                topic=topic,
                ts=now,
                fname=fname,
                owner=owner_user.id if owner_user else None,
                prid=prid,
                team_id=team_id or (self.new_id() if team_main else None),
                team_main=team_main,
                updated_at=now,
            )
            self.rooms[room.id] = room
            usernames = [*([owner] if owner else []), *members]
            for username in dict.fromkeys(usernames):
                extra: Doc = {"open": True}
                if username == owner:
                    extra["ls"] = now
                self._subscribe(room, self.user_by_name(username), now, extra)
            return room

    def add_dm(self, username: str, other: str, *, at: int | None = None, creator: str | None = None) -> Room:
        """A direct message room between two users (``createDirectRoom``, rooms §2.3, §4).

        The room id is the two user ids, sorted and joined; the room has no name, only
        ``usernames``/``uids``. Each subscription is named after the *other* user (``name`` =
        username, ``fname`` = display name, ``u`` without ``name``) and has no ``ls``. Only the
        creator's (default: ``username``) starts open [I: rooms §1.4 says DM creation sets no ``ls``;
        which subscription starts open is inferred].
        """
        with self._lock:
            first, second = self.user_by_name(username), self.user_by_name(other)
            if first.id == second.id:
                raise ValueError("a DM needs two different users")
            now = self._at(at)
            opener = self.user_by_name(creator or username).id
            room = Room(id="".join(sorted((first.id, second.id))), name="", t="d", ts=now, updated_at=now)
            self.rooms[room.id] = room
            for user, peer in ((first, second), (second, first)):
                extra: Doc = {"name": peer.username, "fname": peer.name, "open": user.id == opener}
                self._subscribe(room, user, now, extra)
                self.subscriptions[room.id][user.id]["u"] = {"_id": user.id, "username": user.username}
            return room

    def add_discussion(
        self,
        parent_id: str,
        title: str,
        *,
        by: str,
        members: Iterable[str] = (),
        at: int | None = None,
        room_id: str | None = None,
        announce: bool = True,
    ) -> Room:
        """A discussion: a room of the parent's type with ``prid``, a random ``name`` and the title as
        ``fname`` (rooms §4). ``announce`` posts the ``discussion-created`` message (``drid``) in
        the parent; pass False when that message exists already."""
        with self._lock:
            parent = self.rooms.get(parent_id)
            if parent is None:
                raise NotFound(parent_id)
            now = self._at(at)
            room = self.add_room(
                self.new_id(),
                t=parent.t,
                members=members,
                room_id=room_id,
                at=now,
                owner=by,
                fname=title,
                prid=parent.id,
            )
            if announce:
                self.post(parent.id, by, title, t="discussion-created", extra={"drid": room.id, "dcount": 0}, at=now)
            return room

    def join(self, room_id: str, username: str, *, at: int | None = None, announce: bool = True) -> None:
        """``addUserToRoom``: the new subscription starts open, alerted, with one unread mention
        (rooms §3.3); ``announce`` posts the ``uj`` message."""
        with self._lock:
            room = self._room(room_id)
            now = self._at(at)
            extra: Doc = {"open": True, "alert": True, "unread": 1, "userMentions": 1, "ts": now}
            self._subscribe(room, self.user_by_name(username), now, extra)
            if announce:
                self.post(room_id, username, "", t="uj", at=now)

    def leave(self, room_id: str, username: str, *, at: int | None = None, announce: bool = True) -> None:
        """Leave a room: the subscription goes to the trash (so ``subscriptions.get`` lists it under
        ``remove``; ``rooms.get`` does not, rooms §2.2); ``announce`` posts the ``ul`` message."""
        with self._lock:
            room = self._room(room_id)
            user = self.user_by_name(username)
            now = self._at(at)
            if announce:
                self.post(room_id, username, "", t="ul", at=now)
            subscription = self.subscriptions.get(room.id, {}).pop(user.id, None)
            if subscription is not None:
                self.subscription_trash[subscription["_id"]] = {**subscription, "_deletedAt": now}
            room.members.discard(user.id)
            room.updated_at = now  # usersCount changed

    def erase_room(self, room_id: str, *, at: int | None = None) -> None:
        """Delete a room with its subscriptions and messages, all into the trash (rooms §2.2, §6.5)."""
        with self._lock:
            room = self._room(room_id)
            now = self._at(at)
            for subscription in self.subscriptions.pop(room.id, {}).values():
                self.subscription_trash[subscription["_id"]] = {**subscription, "_deletedAt": now}
            for msg_id in [i for i, d in self.messages.items() if d["rid"] == room.id]:
                self.trash[msg_id] = {**self.messages.pop(msg_id), "_deletedAt": now, "__collection__": "message"}
            del self.rooms[room.id]
            self.room_trash[room.id] = {"_id": room.id, "_deletedAt": now}

    def mark_read(self, room_id: str, username: str, *, at: int | None = None, read_threads: bool = False) -> None:
        """``subscriptions.read`` (``readMessages``, rooms §3.3): counters to 0, ``open``, ``ls`` = now.

        ``alert`` stays on only while unread threads remain (``read_threads`` False and ``tunread``
        not empty); ``read_threads`` also clears the thread lists.
        """
        with self._lock:
            subscription = self._subscription(room_id, self.user_by_name(username).id)
            now = self._at(at)
            alert = bool(subscription.get("alert")) and bool(subscription.get("tunread")) and not read_threads
            subscription.update(open=True, alert=alert, unread=0, userMentions=0, groupMentions=0, ls=now)
            if read_threads:
                for key in ("tunread", "tunreadUser", "tunreadGroup"):
                    subscription.pop(key, None)
            subscription["_updatedAt"] = now

    def room_by_name(self, name: str) -> Room | None:
        with self._lock:
            return next((r for r in self.rooms.values() if r.name == name and r.t != "d"), None)

    def can_access(self, user_id: str, room_id: str) -> bool:
        """``canAccessRoom`` (reference §7), simplified: members always; public channels for everyone
        unless they belong to a private team (then team members); discussions as their parent."""
        with self._lock:
            room = self.rooms.get(room_id)
            if room is None:
                return False
            if user_id in room.members:
                return True
            if room.t == "c" and self._open_team(room, user_id):
                return True
            return room.prid is not None and self.can_access(user_id, room.prid)

    # --- writes ---------------------------------------------------------------------------------

    def post(
        self,
        room_id: str,
        username: str,
        text: str = "",
        *,
        at: int | None = None,
        tmid: str | None = None,
        tshow: bool = False,
        alias: str | None = None,
        t: str | None = None,
        attachments: list[Doc] | None = None,
        file: Doc | None = None,
        extra: Doc | None = None,
        msg_id: str | None = None,
    ) -> str:
        """Send a message (or a system message with ``t``); returns its id."""
        with self._lock:
            if room_id not in self.rooms:
                raise NotFound(room_id)
            user = self.user_by_name(username)
            now = self._at(at)
            doc: Doc = {
                "_id": msg_id or self.new_id(),
                "rid": room_id,
                "msg": text,
                "ts": now,
                "u": {"_id": user.id, "username": user.username, "name": user.name},
                "_updatedAt": now,
                "urls": [],
                "mentions": [],
                "channels": [],
            }
            if text and t is None:
                doc["md"] = [{"type": "PARAGRAPH", "value": [{"type": "PLAIN_TEXT", "value": text}]}]
            if t is not None:
                doc["t"] = t
                doc["groupable"] = False
            if alias:
                doc["alias"] = alias
            if attachments:
                doc["attachments"] = attachments
            if file:
                doc["file"] = file
                doc["files"] = [file]
            if tmid:
                self._count_reply(tmid, user.id, now)
                doc["tmid"] = tmid
                if tshow:
                    doc["tshow"] = True
            if text and t is None:
                doc["mentions"] = self._mentions(text)
            if extra:
                doc.update(extra)
            self.messages[doc["_id"]] = doc
            self._after_save(self.rooms[room_id], doc, now)
            return str(doc["_id"])

    def _count_reply(self, parent_id: str, user_id: str, now: int) -> None:
        """A thread reply updates its parent: reply count, last reply time, repliers."""
        parent = self._message(parent_id)
        parent["tcount"] = int(parent.get("tcount", 0)) + 1
        parent["tlm"] = now
        replies = parent.setdefault("replies", [])
        if user_id not in replies:
            replies.append(user_id)
        parent["_updatedAt"] = now

    def edit(self, msg_id: str, text: str, *, at: int | None = None, by: str | None = None) -> None:
        with self._lock:
            doc = self._message(msg_id)
            now = self._at(at)
            editor = self.user_by_name(by) if by else self.users[doc["u"]["_id"]]
            doc["msg"] = text
            doc["md"] = [{"type": "PARAGRAPH", "value": [{"type": "PLAIN_TEXT", "value": text}]}]
            doc["editedAt"] = now
            doc["editedBy"] = {"_id": editor.id, "username": editor.username}
            doc["_updatedAt"] = now
            # An edit never moves lm; it replaces lastMessage only if it is that message (rooms §3.1 item 1).
            room = self.rooms.get(doc["rid"])
            shown_in_room = not doc.get("tmid") or doc.get("tshow")
            if room and self.store_last_message and shown_in_room and _is_last_or_none(room, msg_id):
                self._set_last_message(room, doc, now)

    def react(self, msg_id: str, username: str, emoji: str, *, at: int | None = None) -> None:
        """Toggle ``username``'s ``emoji`` reaction, like ``chat.react`` without ``shouldReact``."""
        with self._lock:
            doc = self._message(msg_id)
            reactions = doc.setdefault("reactions", {})
            entry = reactions.setdefault(emoji, {"usernames": []})
            if username in entry["usernames"]:
                entry["usernames"].remove(username)
                if not entry["usernames"]:
                    del reactions[emoji]
            else:
                entry["usernames"].append(username)
            doc["_updatedAt"] = self._at(at)
            self._refresh_last_message(doc)

    def pin(self, msg_id: str, *, by: str, at: int | None = None) -> None:
        with self._lock:
            doc = self._message(msg_id)
            user = self.user_by_name(by)
            now = self._at(at)
            doc.update(pinned=True, pinnedAt=now, pinnedBy={"_id": user.id, "username": user.username})
            doc["_updatedAt"] = now
            self._refresh_last_message(doc)

    def touch(self, msg_id: str, *, at: int | None = None, **changes: Any) -> None:
        """Any other write (URL preview, read state…): set fields and stamp ``_updatedAt``."""
        with self._lock:
            doc = self._message(msg_id)
            doc.update(changes)
            doc["_updatedAt"] = self._at(at)

    def delete(self, msg_id: str, *, at: int | None = None, by: str | None = None) -> None:
        """Delete a message following the KeepHistory / ShowDeletedStatus matrix (reference §5.2)."""
        with self._lock:
            doc = self._message(msg_id)
            now = self._at(at)
            thread_parent = int(doc.get("tcount", 0)) > 0
            keep_history = self.keep_history or thread_parent
            show_status = self.show_deleted_status or thread_parent
            if keep_history and not show_status:
                doc["_hidden"] = True
                doc["_updatedAt"] = now
                self._after_delete(doc, now)
                return
            if keep_history:
                clone = copy.deepcopy(doc)
                clone.update(_id=self.new_id(), _hidden=True, parent=msg_id, _updatedAt=now)
                self.messages[clone["_id"]] = clone
            if show_status:
                editor = self.user_by_name(by) if by else self.users[doc["u"]["_id"]]
                for key in ("md", "blocks", "tshow"):
                    doc.pop(key, None)
                doc.update(
                    t="rm",
                    msg="",
                    urls=[],
                    mentions=[],
                    attachments=[],
                    reactions={},
                    editedAt=now,
                    editedBy={"_id": editor.id, "username": editor.username},
                    _updatedAt=now,
                )
                self._after_delete(doc, now)
                return
            # The trash record keeps the message's own _updatedAt: the DELETED cursor sorts by it.
            del self.messages[msg_id]
            self.trash[msg_id] = {**doc, "_deletedAt": now, "__collection__": "message"}
            self._after_delete(doc, now)

    # --- reads (the Mongo queries of reference §4) ---------------------------------------------

    def find_updates(
        self,
        room_id: str,
        *,
        gt: int | None = None,
        lt: int | None = None,
        sort_key: str = "_updatedAt",
        descending: bool = False,
        limit: int = 0,
        ts_from: int | None = None,
    ) -> list[Doc]:
        """``Messages.findForUpdates``: visible messages of the room by ``_updatedAt`` bounds.

        ``ts_from`` keeps only messages created at or after it (``fromTs``, see syncmessages).
        """
        with self._lock:
            rows = [
                d
                for d in self.messages.values()
                if d["rid"] == room_id
                and not d.get("_hidden")
                and _within(d["_updatedAt"], gt, lt)
                and (ts_from is None or d["ts"] >= ts_from)
            ]
            return [to_wire(d) for d in _sorted_limited(rows, sort_key, descending, limit)]

    def find_deleted(
        self,
        room_id: str,
        *,
        gt: int | None = None,
        lt: int | None = None,
        sort_key: str = "_updatedAt",
        descending: bool = False,
        limit: int = 0,
        ts_from: int | None = None,
    ) -> list[Doc]:
        """``trashFind`` projected to ``{_id, _deletedAt}``, bounded by ``_deletedAt``."""
        with self._lock:
            rows = [
                d
                for d in self.trash.values()
                if d["rid"] == room_id and _within(d["_deletedAt"], gt, lt) and (ts_from is None or d["ts"] >= ts_from)
            ]
            picked = _sorted_limited(rows, sort_key, descending, limit)
            return [{"_id": d["_id"], "_deletedAt": iso_ms(d["_deletedAt"])} for d in picked]

    def subscriptions_of(self, user_id: str, *, updated_since: int | None = None) -> tuple[list[Doc], list[Doc]]:
        """``getSubscriptions`` (rooms §1.3): ``(update, remove)``; without a date, every subscription
        and no removals; with one, strictly newer ``_updatedAt`` and trash ``_deletedAt``."""
        with self._lock:
            mine = [subs[user_id] for subs in self.subscriptions.values() if user_id in subs]
            if updated_since is None:
                return [to_wire(s) for s in mine], []
            update = [to_wire(s) for s in mine if s["_updatedAt"] > updated_since]
            remove = [
                {"_id": t["_id"], "_deletedAt": iso_ms(t["_deletedAt"])}
                for t in self.subscription_trash.values()
                if t["u"]["_id"] == user_id and t["_deletedAt"] > updated_since
            ]
            return update, remove

    def rooms_of(self, user_id: str, *, updated_since: int | None = None) -> tuple[list[Doc], list[Doc]]:
        """``rooms/get`` (rooms §2.2): exactly the rooms the user is subscribed to; with a date, those
        with a newer ``_updatedAt``, and *every* room erased since, server-wide."""
        with self._lock:
            rooms = [self.rooms[rid] for rid, subs in self.subscriptions.items() if user_id in subs]
            if updated_since is None:
                return [self.room_doc(r.id) for r in rooms], []
            update = [self.room_doc(r.id) for r in rooms if r.updated_at > updated_since]
            remove = [
                {"_id": t["_id"], "_deletedAt": iso_ms(t["_deletedAt"])}
                for t in self.room_trash.values()
                if t["_deletedAt"] > updated_since
            ]
            return update, remove

    def room_doc(self, room_id: str) -> Doc:
        """A room as the REST API serialises it (a subset of the ``roomFields`` of rooms §2.3)."""
        with self._lock:
            room = self._room(room_id)
            doc: Doc = {"_id": room.id, "t": room.t}
            if room.t == "d":
                # DMs have no name, fname or u; usernames by display name, uids sorted (rooms §2.3).
                users = [self.users[uid] for uid in room.members if uid in self.users]
                doc["usernames"] = [u.username for u in sorted(users, key=lambda u: (u.name, u.username))]
                doc["uids"] = sorted(u.id for u in users)
            else:
                doc.update(name=room.name, fname=room.fname or room.name)
                owner = self.users.get(room.owner or "")
                if owner:
                    doc["u"] = {"_id": owner.id, "username": owner.username, "name": owner.name}
            doc.update(ts=iso_ms(room.ts), _updatedAt=iso_ms(room.updated_at), msgs=room.msgs)
            doc["usersCount"] = len(room.members)
            if room.topic:
                doc["topic"] = room.topic
            if room.lm is not None:
                doc["lm"] = iso_ms(room.lm)
            if room.last_message is not None:
                doc["lastMessage"] = to_wire(room.last_message)
            if room.prid:
                doc["prid"] = room.prid
            if room.team_id:
                doc["teamId"] = room.team_id
            if room.team_main:
                doc["teamMain"] = True
            if room.archived:
                doc["archived"] = True
            return doc

    # --- helpers --------------------------------------------------------------------------------

    def _at(self, at: int | None) -> int:
        return self._clock() if at is None else at

    def _message(self, msg_id: str) -> Doc:
        try:
            return self.messages[msg_id]
        except KeyError:
            raise NotFound(msg_id) from None

    def _room(self, room_id: str) -> Room:
        try:
            return self.rooms[room_id]
        except KeyError:
            raise NotFound(room_id) from None

    def _subscription(self, room_id: str, user_id: str) -> Doc:
        try:
            return self.subscriptions[room_id][user_id]
        except KeyError:
            raise NotFound(f"{user_id} in {room_id}") from None

    def _subscribe(self, room: Room, user: User, now: int, extra: Doc) -> None:
        """``Subscriptions.createWithRoomAndUser`` (read from source, rooms §0): closed, no alert, no
        counters, then ``extra``. Inserting stamps ``_updatedAt``; ``usersCount`` +1 stamps the room."""
        doc: Doc = {
            "_id": "".join(self._subscription_random.choice(_ID_ALPHABET) for _ in range(17)),
            "open": False,
            "alert": False,
            "unread": 0,
            "userMentions": 0,
            "groupMentions": 0,
            "ts": room.ts,
            "rid": room.id,
            "name": room.name,
            "fname": room.fname or room.name,
            "t": room.t,
            "u": {"_id": user.id, "username": user.username, "name": user.name},
        }
        if room.prid:
            doc["prid"] = room.prid
        doc.update(extra)
        doc["_updatedAt"] = now
        self.subscriptions.setdefault(room.id, {})[user.id] = doc
        room.members.add(user.id)
        room.updated_at = now

    def _mentions(self, text: str) -> list[Doc]:
        """The message's ``mentions``: groups first, then known users (see :mod:`.mentions`)."""
        names = mentioned_names(text)
        groups: list[Doc] = [{"_id": n, "username": n} for n in names if n in GROUP_MENTIONS]
        wanted = set(names) - set(GROUP_MENTIONS)
        users: list[Doc] = [
            {"_id": u.id, "username": u.username, "name": u.name, "type": "user"}
            for u in self.users.values()
            if u.username in wanted
        ]
        return groups + users

    def _after_save(self, room: Room, doc: Doc, now: int) -> None:
        """``notifyUsersOnMessage`` for a new message (rooms §3.1; afterSaveMessage, read from source).

        Posts here are live: ``ts`` is the time of the write, so the "more than 60 s away"
        (import) branch never applies. System messages only count in ``msgs`` [I: they are saved
        outside sendMessage]. Mention highlights (``userHighlights``) are not modelled.
        """
        room.msgs += 1
        room.updated_at = now
        if doc.get("t"):
            return
        if doc.get("tmid"):
            self._thread_reply(room, doc, now)
            if not doc.get("tshow"):
                return  # a thread-only reply counts in msgs and nowhere else
        room.lm = doc["ts"]
        if self.store_last_message:
            room.last_message = copy.deepcopy(doc)
        sender = doc["u"]["_id"]
        others = [s for uid, s in self.subscriptions.get(room.id, {}).items() if uid != sender]
        if not doc.get("tmid"):
            self._count_mentions(room, doc, sender, now)
        # setAlertForRoomIdExcludingUserId / setOpenForRoomIdExcludingUserId match only docs that
        # change, so only those get a new _updatedAt (rooms §3.2).
        for subscription in others:
            if subscription.get("alert") is not True or subscription.get("open") is not True:
                subscription.update(alert=True, open=True, _updatedAt=now)
        mine = self.subscriptions.get(room.id, {}).get(sender)
        if self.sender_marks_read and mine is not None:
            mine.update(open=True, alert=False, unread=0, userMentions=0, groupMentions=0, ls=now, _updatedAt=now)

    def _count_mentions(self, room: Room, doc: Doc, sender: str, now: int) -> None:
        """``updateUsersSubscriptions`` (rooms §3.1 item 4): user mentions win over ``@all``/``@here``;
        ``all_messages`` rooms (DMs by default) count every message as unread."""
        mentions: list[Doc] = doc.get("mentions") or []
        group = any(m.get("_id") in GROUP_MENTIONS for m in mentions)
        user_ids = list(
            dict.fromkeys(
                m["_id"]
                for m in mentions
                if m.get("type", "user") == "user" and m.get("_id") not in (sender, *GROUP_MENTIONS)
            )
        )
        setting = self.unread_count_dm if room.t == "d" else self.unread_count
        direct = room.t in ("d", "l")
        subscriptions = self.subscriptions.get(room.id, {})
        if user_ids:
            unread = int(direct or setting in ("all_messages", "user_mentions_only", "user_and_group_mentions_only"))
            for uid in user_ids:
                if uid in subscriptions:
                    _bump(subscriptions[uid], now, userMentions=1, unread=unread)
        elif group:
            unread = int(direct or setting in ("all_messages", "group_mentions_only", "user_and_group_mentions_only"))
            for uid, subscription in subscriptions.items():
                if uid != sender:
                    _bump(subscription, now, groupMentions=1, unread=unread)
        if not group and setting == "all_messages":
            for uid, subscription in subscriptions.items():
                if uid != sender and uid not in user_ids:
                    _bump(subscription, now, unread=1)

    def _thread_reply(self, room: Room, doc: Doc, now: int) -> None:
        """Thread followers (the parent's author and repliers) other than the sender get ``alert``;
        they and the sender get ``open`` and ``lr``; their ``tunread`` gains the thread (rooms §3.1
        item 3). ``tunreadUser``/``tunreadGroup`` are not modelled."""
        parent = self.messages.get(doc["tmid"])
        if parent is None:
            return
        sender = doc["u"]["_id"]
        followers = {parent["u"]["_id"], *parent.get("replies", [])}
        subscriptions = self.subscriptions.get(room.id, {})
        for uid in followers | {sender}:
            subscription = subscriptions.get(uid)
            if subscription is None:
                continue
            subscription.update(open=True, lr=now, _updatedAt=now)
            if uid != sender:
                subscription["alert"] = True
                threads = subscription.setdefault("tunread", [])
                if doc["tmid"] not in threads:
                    threads.append(doc["tmid"])

    def _after_delete(self, doc: Doc, now: int) -> None:
        """``deleteMessage`` (rooms §3.2): ``msgs`` -1, ``lm`` kept, counters kept; a deleted
        ``lastMessage`` is replaced by the newest visible user message, or removed."""
        room = self.rooms.get(doc["rid"])
        if room is None:
            return
        room.msgs -= 1
        room.updated_at = now
        if room.last_message is not None and room.last_message["_id"] == doc["_id"]:
            visible = [
                m
                for m in self.messages.values()
                if m["rid"] == room.id
                and not m.get("_hidden")
                and not m.get("t")
                and (not m.get("tmid") or m.get("tshow"))
            ]
            room.last_message = copy.deepcopy(max(visible, key=lambda m: int(m["ts"]))) if visible else None

    def _refresh_last_message(self, doc: Doc) -> None:
        """Reactions and pins on the room's last message are copied into ``lastMessage``."""
        room = self.rooms.get(doc["rid"])
        if room is not None and room.last_message is not None and room.last_message["_id"] == doc["_id"]:
            self._set_last_message(room, doc, int(doc["_updatedAt"]))

    def _set_last_message(self, room: Room, doc: Doc, now: int) -> None:
        room.last_message = copy.deepcopy(doc)
        room.updated_at = now

    def _open_team(self, room: Room, user_id: str) -> bool:
        """A channel in a team is open to all only if the team's main room is public."""
        if room.team_id is None or room.team_main:
            return True
        main = next((r for r in self.rooms.values() if r.team_main and r.team_id == room.team_id), None)
        return main is None or main.t == "c" or user_id in main.members


def _is_last_or_none(room: Room, msg_id: str) -> bool:
    return room.last_message is None or room.last_message["_id"] == msg_id


def _bump(subscription: Doc, now: int, **increments: int) -> None:
    """``$inc`` the counters and ``$set`` alert/open, as the counter updates of rooms §3.1 do."""
    for key, amount in increments.items():
        subscription[key] = int(subscription.get(key, 0)) + amount
    subscription.update(alert=True, open=True, _updatedAt=now)


def _within(value: int, gt: int | None, lt: int | None) -> bool:
    return (gt is None or value > gt) and (lt is None or value < lt)


def _sorted_limited(rows: list[Doc], key: str, descending: bool, limit: int) -> list[Doc]:
    # Mongo gives ties no order guarantee; insertion order keeps the emulator deterministic.
    ordered = sorted(rows, key=lambda d: int(d[key]), reverse=descending)
    return ordered[:limit] if limit > 0 else ordered
