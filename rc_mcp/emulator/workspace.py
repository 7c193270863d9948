"""The emulator's data: users, rooms, messages and the trash, with Rocket.Chat's write rules.

Every write stamps ``_updatedAt`` (reference §4.3); deletions follow the KeepHistory /
ShowDeletedStatus matrix (§5.2). Times are integers (ms since epoch) inside, ISO strings on the wire.
Methods take an optional ``at`` (ms) so tests and seeds control time exactly; without it the clock
is used. All methods are thread-safe: the HTTP server runs in another thread than the test.
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
from typing import Any

Doc = dict[str, Any]

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
_DATE_FIELDS = ("ts", "_updatedAt", "editedAt", "tlm", "pinnedAt", "dlm", "_deletedAt")
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
    name: str
    t: str  # 'c' public channel, 'p' private group, 'd' direct message
    members: set[str] = field(default_factory=set)
    archived: bool = False
    topic: str | None = None
    ts: int = 0


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
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._random = random.Random(seed)
        self.keep_history = keep_history
        self.show_deleted_status = show_deleted_status
        self.users: dict[str, User] = {}
        self.rooms: dict[str, Room] = {}
        self.messages: dict[str, Doc] = {}
        self.trash: dict[str, Doc] = {}

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
    ) -> Room:
        with self._lock:
            room = Room(
                id=room_id or self.new_id(),
                name=name,
                t=t,
                members={self.user_by_name(u).id for u in members},
                topic=topic,
                ts=self._at(at),
            )
            self.rooms[room.id] = room
            return room

    def room_by_name(self, name: str) -> Room | None:
        with self._lock:
            return next((r for r in self.rooms.values() if r.name == name), None)

    def can_access(self, user_id: str, room_id: str) -> bool:
        """canAccessRoom, simplified: public channels for everyone, other rooms for members."""
        with self._lock:
            room = self.rooms.get(room_id)
            if room is None:
                return False
            return room.t == "c" or user_id in room.members

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
                parent = self._message(tmid)
                doc["tmid"] = tmid
                if tshow:
                    doc["tshow"] = True
                parent["tcount"] = int(parent.get("tcount", 0)) + 1
                parent["tlm"] = now
                replies = parent.setdefault("replies", [])
                if user.id not in replies:
                    replies.append(user.id)
                parent["_updatedAt"] = now
            if extra:
                doc.update(extra)
            self.messages[doc["_id"]] = doc
            return str(doc["_id"])

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

    def pin(self, msg_id: str, *, by: str, at: int | None = None) -> None:
        with self._lock:
            doc = self._message(msg_id)
            user = self.user_by_name(by)
            now = self._at(at)
            doc.update(pinned=True, pinnedAt=now, pinnedBy={"_id": user.id, "username": user.username})
            doc["_updatedAt"] = now

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
                return
            # The trash record keeps the message's own _updatedAt: the DELETED cursor sorts by it.
            del self.messages[msg_id]
            self.trash[msg_id] = {**doc, "_deletedAt": now, "__collection__": "message"}

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

    # --- helpers --------------------------------------------------------------------------------

    def _at(self, at: int | None) -> int:
        return self._clock() if at is None else at

    def _message(self, msg_id: str) -> Doc:
        try:
            return self.messages[msg_id]
        except KeyError:
            raise NotFound(msg_id) from None


def _within(value: int, gt: int | None, lt: int | None) -> bool:
    return (gt is None or value > gt) and (lt is None or value < lt)


def _sorted_limited(rows: list[Doc], key: str, descending: bool, limit: int) -> list[Doc]:
    # Mongo gives ties no order guarantee; insertion order keeps the emulator deterministic.
    ordered = sorted(rows, key=lambda d: int(d[key]), reverse=descending)
    return ordered[:limit] if limit > 0 else ordered
