"""Domain models: the parts of Rocket.Chat messages and rooms an agent acts on.

Wire documents (dicts as the server sends them) become these models in ``from_wire``; nothing else
in rc-mcp reads raw message fields. The server's answers are untrusted too: a document without a
string ``_id`` or a valid timestamp is not a message (``from_wire`` gives None), so it can neither
be shown as one nor move a position.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from rc_mcp.sanitize import unsafe
from rc_mcp.times import iso, parse_wire_date, to_ms

Stream = Literal["updated", "deleted"]
# A time in UTC, written as Rocket.Chat writes it: ISO-8601 with milliseconds and Z.
UtcTime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json-unless-none")]
MAX_ID_CHARS = 200


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


_M = TypeVar("_M", bound=_Model)
# Per model class, the one fields set shared by every instance _construct builds (they all have every
# field set). Sharing is safe: pydantic never changes a frozen model's fields set in place (model_copy
# changes a copy), and a set per message was one in seven of the objects a large page adds for the
# garbage collector to walk. One entry per model class, so it never grows.
_ALL_FIELDS: dict[type[_Model], set[str]] = {}


def _construct(cls: type[_M], values: dict[str, Any]) -> _M:
    """What ``cls.model_construct(**values)`` builds, for checked values of every field in the order the
    class declares them, without its alias and default lookups per field (they were half the cost of
    ``Message.from_wire``). The order matters: it is the order of the fields in JSON."""
    fields_set = _ALL_FIELDS.get(cls)
    if fields_set is None:  # checked once per class: each caller builds its dict in one fixed order
        assert tuple(values) == tuple(cls.__pydantic_fields__), f"{cls.__name__} needs every field, in order"
        fields_set = _ALL_FIELDS.setdefault(cls, set(values))
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", fields_set)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


class Reaction(_Model):
    emoji: str = Field(description="Emoji code, e.g. ':+1:'")
    usernames: list[str] = Field(description="Who reacted")


class FileRef(_Model):
    name: str
    type: str | None = None
    size: int | None = None
    description: str | None = Field(None, description="The caption the uploader wrote")


class AttachmentField(_Model):
    title: str
    value: str


class Attachment(_Model):
    """A non-file attachment: a quoted message, a bot card, a link preview someone attached."""

    title: str | None = None
    text: str | None = None
    fields: list[AttachmentField] = Field(default_factory=list, description="A bot card's title/value pairs")
    quoted_message_id: str | None = Field(None, description="Set when the attachment quotes another message")


ChangeKind = Literal["new", "unchanged", "edited", "reactions", "thread", "pinned", "unpinned", "removed", "other"]


class Change(_Model):
    """How a message differs from the copy rc-mcp showed before (needs the local store)."""

    kinds: list[ChangeKind] = Field(description="new, unchanged (seen before), edited, reactions, thread, …")
    diff: str | None = Field(None, description="For edits: a compact word diff from the previous text")


class Message(_Model):
    """One message (or system event) as it is now on the server."""

    id: str
    room_id: str = ""
    author: str = Field(description="Username of the sender")
    author_name: str | None = Field(None, description="Display name of the sender")
    alias: str | None = Field(None, description="Name shown instead of the author (bots, integrations)")
    text: str = Field("", description="Raw message text (Markdown)")
    ts: UtcTime = Field(description="When it was sent (UTC)")
    updated_at: UtcTime = Field(description="Last change of any kind: edit, reaction, thread reply, pin…")
    type: str | None = Field(None, description="Rocket.Chat 't' code for system/special messages, else null")
    thread_id: str | None = Field(None, description="Parent message id when this is a thread reply")
    shown_in_room: bool = Field(False, description="Thread reply also sent to the room")
    thread_reply_count: int | None = Field(None, description="On a thread parent: number of replies")
    thread_last_reply: UtcTime | None = None
    discussion_room_id: str | None = None
    edited_at: UtcTime | None = None
    edited_by: str | None = None
    pinned: bool = False
    encrypted: bool = Field(False, description="End-to-end encrypted: the text is ciphertext")
    reactions: list[Reaction] = Field(default_factory=list)
    files: list[FileRef] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    change: Change | None = Field(None, description="What changed since rc-mcp last showed it; null without store")

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Message | None:
        """The message, or None when the document has no usable id or time."""
        msg_id = _id(doc.get("_id"))
        raw_ts, raw_updated = doc.get("ts"), doc.get("_updatedAt")
        ts, updated_at = parse_wire_date(raw_ts), parse_wire_date(raw_updated)
        # A time that is there but unreadable makes the document unusable: guessing would show a
        # wrong time, or move a position wrongly. One that is missing is the other one.
        if msg_id is None or (raw_ts is not None and ts is None) or (raw_updated is not None and updated_at is None):
            return None
        ts = ts or updated_at
        updated_at = updated_at or ts
        if ts is None or updated_at is None:
            return None
        raw_user = doc.get("u")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        edited_by = doc.get("editedBy")
        tcount = doc.get("tcount")
        files = _files(doc)
        author = _str(user.get("username")) or _str(user.get("_id")) or "unknown"
        name = _str(user.get("name"))
        # Values are checked here one by one, so validation would only repeat the work (it is a third
        # of the cost of a large page).
        return _construct(
            cls,
            {
                "id": msg_id,
                "room_id": _str(doc.get("rid")) or "",
                "author": author,
                # A display name equal to the username says nothing more.
                "author_name": name if name != author else None,
                "alias": _str(doc.get("alias")),
                "text": _str(doc.get("msg")) or "",
                "ts": ts,
                "updated_at": updated_at,
                "type": _str(doc.get("t")),
                "thread_id": _str(doc.get("tmid")),
                "shown_in_room": doc.get("tshow") is True,
                "thread_reply_count": tcount if isinstance(tcount, int) and not isinstance(tcount, bool) else None,
                "thread_last_reply": parse_wire_date(doc.get("tlm")),
                "discussion_room_id": _str(doc.get("drid")),
                "edited_at": parse_wire_date(doc.get("editedAt")),
                "edited_by": _str(edited_by.get("username")) if isinstance(edited_by, dict) else None,
                "pinned": doc.get("pinned") is True,
                "encrypted": doc.get("t") == "e2e" or doc.get("e2e") in ("pending", "done"),
                "reactions": _reactions(doc.get("reactions")),
                "files": _with_captions(files, doc.get("attachments")),
                "attachments": _attachments(doc.get("attachments")),
                "change": None,
            },
        )


class Deletion(_Model):
    """A message the server moved to its trash: only the id and the time survive."""

    id: str
    deleted_at: UtcTime
    seen_before: bool | None = Field(None, description="Whether rc-mcp had seen the message; null without store")
    recalled: Message | None = Field(None, description="The message as rc-mcp last saw it (local history)")

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Deletion | None:
        """The deletion, or None when the record has no usable id or time."""
        msg_id = _id(doc.get("_id"))
        deleted_at = parse_wire_date(doc.get("_deletedAt"))
        if msg_id is None or deleted_at is None:
            return None
        return _construct(cls, {"id": msg_id, "deleted_at": deleted_at, "seen_before": None, "recalled": None})


Item = Message | Deletion


def stamp_ms(item: Item) -> int:
    """The timestamp a cursor counts for this item: ``_updatedAt`` or ``_deletedAt``."""
    return to_ms(item.updated_at if isinstance(item, Message) else item.deleted_at)


# Room names that already say what they are: a direct message's @username, a #name, a quoted title.
LABELLED = ("#", "@", '"')


def called(label: str) -> str:
    """How the text calls a room by its label: ``#general`` for the unique name ``general``; a label
    that already says what it is (``@alice``, ``"Lunch?"``) as it is."""
    return label if label.startswith(LABELLED) else f"#{label}"


RoomKind = Literal["channel", "private group", "direct message", "discussion", "team", "omnichannel", "other"]


class Room(_Model):
    """A room as ``rooms.info``/``rooms.get`` describe it."""

    id: str
    name: str | None = Field(None, description="The unique name (as in its URL); null for direct messages")
    display_name: str | None = Field(None, description="The display name (fname), when it differs")
    kind: RoomKind = "other"
    archived: bool = False

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Room | None:
        room_id = _id(doc.get("_id"))
        if room_id is None:
            return None
        name = _str(doc.get("name"))
        fname = _str(doc.get("fname"))
        return cls(
            id=room_id,
            name=name,
            display_name=fname if fname != name else None,
            kind=_kind(doc),
            archived=doc.get("archived") is True,
        )

    @property
    def label(self) -> str | None:
        """What to call the room: a direct message as its room-list entry gave it (the other person's
        ``@username``), a discussion by its title, quoted (its unique name is generated), any other
        room by its unique name, else by its display name, quoted. A quoted name cannot be mistaken
        for a username or start a line of the answer."""
        if self.kind == "direct message":
            return self.display_name
        if self.display_name and (self.kind == "discussion" or not self.name):
            return f'"{self.display_name}"'
        return self.name


class RoomEntry(_Model):
    """A room the account is in, as its room list shows it (``rooms.get`` joined with ``subscriptions.get``)."""

    id: str
    name: str = Field(description='#name for rooms, @username for a direct message, "title" for a discussion')
    type: RoomKind
    unread: int = Field(0, description="Unread messages as the server counts them (channels count mentions only)")
    mentions: int = Field(0, description="Mentions of the account (@username) and of everyone (@all, @here)")
    alert: bool = Field(False, description="The sidebar marks the room: something new since the account last read it")
    last_message_at: UtcTime | None = Field(None, description="When the last message was sent")
    # Server time of the room's or the subscription's last change (ms): posts, deletions, joins, reads.
    activity_ms: int = Field(0, exclude=True)
    # The room's unique name and display name (fname) as rooms.info gives them; a direct message has no
    # unique name, and the other person's @username (else quoted display name) as its display name.
    unique_name: str | None = Field(None, exclude=True)
    display_name: str | None = Field(None, exclude=True)

    @classmethod
    def from_wire(cls, room: dict[str, Any], subscription: dict[str, Any]) -> RoomEntry | None:
        room_id = _id(room.get("_id")) or _id(subscription.get("rid"))
        if room_id is None:
            return None
        kind = _kind(room or subscription)
        stamps = [parse_wire_date(doc.get("_updatedAt")) for doc in (room, subscription)]
        last = parse_wire_date(room.get("lm"))
        activity = max([to_ms(t) for t in (*stamps, last) if t is not None], default=0)
        name = _str(room.get("name")) or _str(subscription.get("name"))
        fname = _str(room.get("fname")) or _str(subscription.get("fname"))
        if kind == "direct message":
            # The subscription is named after the other person; rooms.info gives the room itself no
            # name, so the person's @username (else their display name, quoted) stands in for one.
            person = f"@{name}" if name else None
            name, fname = None, person or (f'"{fname}"' if fname else None)
        label = Room(id=room_id, name=name, display_name=fname if fname != name else None, kind=kind).label
        return cls(
            id=room_id,
            name=called(label) if label else room_id,
            type=kind,
            unread=_count(subscription.get("unread")),
            mentions=_count(subscription.get("userMentions")) + _count(subscription.get("groupMentions")),
            alert=subscription.get("alert") is True,
            last_message_at=last,
            activity_ms=activity,
            unique_name=name,
            display_name=fname if fname != name else None,
        )

    def room(self) -> Room:
        """The room as ``rooms.info`` describes it (``general``, not this list's ``#general``)."""
        return Room(id=self.id, name=self.unique_name, display_name=self.display_name, kind=self.type)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _kind(doc: dict[str, Any]) -> RoomKind:
    t = doc.get("t")
    if t == "d":
        return "direct message"
    if t in ("l", "v"):
        return "omnichannel"
    if isinstance(doc.get("prid"), str) and doc["prid"]:
        return "discussion"
    if doc.get("teamMain") is True:
        return "team"
    return {"c": "channel", "p": "private group"}.get(t if isinstance(t, str) else "", "other")  # type: ignore[return-value]


def _id(value: object) -> str | None:
    """An id as Rocket.Chat makes them: visible characters only, no whitespace (either would make a line
    ambiguous or an id impossible to send back), not huge."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        return None
    if value.isascii() and value.isalnum():  # every id Rocket.Chat makes: the check costs nothing more
        return value
    return None if unsafe().search(value) or any(ch.isspace() for ch in value) else value


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _reactions(raw: object) -> list[Reaction]:
    if not isinstance(raw, dict):
        return []
    out = []
    for emoji, entry in raw.items():
        names = entry.get("usernames") if isinstance(entry, dict) else None
        usernames = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        out.append(_construct(Reaction, {"emoji": str(emoji), "usernames": usernames}))
    return out


def _files(doc: dict[str, Any]) -> list[FileRef]:
    raw = doc.get("files")
    entries = raw if isinstance(raw, list) else ([doc["file"]] if isinstance(doc.get("file"), dict) else [])
    out = []
    for entry in entries:
        if isinstance(entry, dict) and _str(entry.get("name")):
            size = entry.get("size")
            out.append(
                _construct(
                    FileRef,
                    {
                        "name": entry["name"],
                        "type": _str(entry.get("type")),
                        "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
                        "description": None,
                    },
                )
            )
    return out


def _is_file_attachment(entry: dict[str, Any]) -> bool:
    # File uploads repeat the file as an attachment with title_link; the file list already has it.
    return isinstance(entry.get("title_link"), str) and entry.get("type") == "file"


def _with_captions(files: list[FileRef], raw: object) -> list[FileRef]:
    """Files with the caption the uploader wrote, which only the upload's attachment carries."""
    if not files or not isinstance(raw, list):
        return files
    captions = {
        entry.get("title"): entry["description"]
        for entry in raw
        if isinstance(entry, dict) and _is_file_attachment(entry) and _str(entry.get("description"))
    }
    if not captions:
        return files
    only = next(iter(captions.values())) if len(files) == 1 and len(captions) == 1 else None
    return [f.model_copy(update={"description": captions.get(f.name, only)}) for f in files]


def _attachments(raw: object) -> list[Attachment]:
    if not isinstance(raw, list):
        return []
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or _is_file_attachment(entry):
            continue
        link = entry.get("message_link")
        quoted = link.rsplit("msg=", 1)[-1] if isinstance(link, str) and "msg=" in link else None
        out.append(
            _construct(
                Attachment,
                {
                    "title": _str(entry.get("title")) or _str(entry.get("author_name")),
                    "text": _str(entry.get("text")) or _str(entry.get("description")),
                    "fields": _fields(entry.get("fields")),
                    "quoted_message_id": quoted,
                },
            )
        )
    return out


def _fields(raw: object) -> list[AttachmentField]:
    if not isinstance(raw, list):
        return []
    out = []
    for entry in raw:
        if isinstance(entry, dict):
            title, value = entry.get("title"), entry.get("value")
            if isinstance(title, str | int | float) or isinstance(value, str | int | float):
                out.append(_construct(AttachmentField, {"title": _text(title), "value": _text(value)}))
    return out


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None or isinstance(value, bool) else str(value)
