"""Domain models: the parts of Rocket.Chat messages an agent acts on, and the result of one sync.

Wire documents (dicts as the server sends them) become these models in ``Message.from_wire`` and
``Deletion.from_wire``; nothing else in rc-mcp reads raw message fields.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

Stream = Literal["updated", "deleted"]

# How much of one message text the agent sees, and roughly how much text one result may hold.
SHOWN_TEXT_LIMIT = 1_500
RESULT_CHAR_BUDGET = 24_000
LINE_OVERHEAD_CHARS = 90
Mode = Literal["last_update", "next", "previous", "checkpoint"]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as Rocket.Chat cursors count them (exact, no float rounding)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``, the way Rocket.Chat serialises dates."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_wire_date(value: object) -> datetime | None:
    """A date as the REST API (ISO string) or EJSON (``{"$date": ms}``) writes it."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, dict) and isinstance(value.get("$date"), int | float):
        return from_ms(int(value["$date"]))
    return None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Reaction(_Model):
    emoji: str = Field(description="Emoji code, e.g. ':+1:'")
    usernames: list[str] = Field(description="Who reacted")


class FileRef(_Model):
    name: str
    type: str | None = None
    size: int | None = None


class Attachment(_Model):
    """A non-file attachment: a quoted message, a bot card, a link preview someone attached."""

    title: str | None = None
    text: str | None = None
    quoted_message_id: str | None = Field(None, description="Set when the attachment quotes another message")


ChangeKind = Literal["new", "unchanged", "edited", "reactions", "thread", "pinned", "unpinned", "removed", "other"]


class Change(_Model):
    """How a message differs from the copy rc-mcp showed before (needs the local store)."""

    kinds: list[ChangeKind] = Field(description="new, unchanged (seen before), edited, reactions, thread, …")
    diff: str | None = Field(None, description="For edits: a compact word diff from the previous text")


class Message(_Model):
    """One message (or system event) as it is now on the server."""

    id: str
    room_id: str
    author: str = Field(description="Username of the sender")
    author_name: str | None = Field(None, description="Display name of the sender")
    alias: str | None = Field(None, description="Name shown instead of the author (bots, integrations)")
    text: str = Field(description="Raw message text (Markdown)")
    ts: datetime = Field(description="When it was sent (UTC)")
    updated_at: datetime = Field(description="Last change of any kind: edit, reaction, thread reply, pin…")
    type: str | None = Field(None, description="Rocket.Chat 't' code for system/special messages, else null")
    thread_id: str | None = Field(None, description="Parent message id when this is a thread reply")
    shown_in_room: bool = Field(False, description="Thread reply also sent to the room")
    thread_reply_count: int | None = Field(None, description="On a thread parent: number of replies")
    thread_last_reply: datetime | None = None
    discussion_room_id: str | None = None
    edited_at: datetime | None = None
    edited_by: str | None = None
    pinned: bool = False
    encrypted: bool = Field(False, description="End-to-end encrypted: the text is ciphertext")
    reactions: list[Reaction] = Field(default_factory=list)
    files: list[FileRef] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    change: Change | None = Field(None, description="What changed since rc-mcp last showed it; null without store")

    @field_serializer("ts", "updated_at", "thread_last_reply", "edited_at")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value) if value is not None else None

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Message:
        raw_user = doc.get("u")
        user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
        raw_text = doc.get("msg")
        ts = parse_wire_date(doc.get("ts")) or EPOCH
        edited_by = doc.get("editedBy")
        return cls(
            id=str(doc.get("_id", "")),
            room_id=str(doc.get("rid", "")),
            author=str(user.get("username") or user.get("_id") or "unknown"),
            author_name=_str(user.get("name")),
            alias=_str(doc.get("alias")),
            text=raw_text if isinstance(raw_text, str) else "",
            ts=ts,
            updated_at=parse_wire_date(doc.get("_updatedAt")) or ts,
            type=_str(doc.get("t")),
            thread_id=_str(doc.get("tmid")),
            shown_in_room=doc.get("tshow") is True,
            thread_reply_count=doc.get("tcount") if isinstance(doc.get("tcount"), int) else None,
            thread_last_reply=parse_wire_date(doc.get("tlm")),
            discussion_room_id=_str(doc.get("drid")),
            edited_at=parse_wire_date(doc.get("editedAt")),
            edited_by=_str(edited_by.get("username")) if isinstance(edited_by, dict) else None,
            pinned=doc.get("pinned") is True,
            encrypted=doc.get("t") == "e2e" or doc.get("e2e") in ("pending", "done"),
            reactions=_reactions(doc.get("reactions")),
            files=_files(doc),
            attachments=_attachments(doc.get("attachments")),
        )


class Deletion(_Model):
    """A message the server moved to its trash: only the id and the time survive."""

    id: str
    deleted_at: datetime
    seen_before: bool | None = Field(None, description="Whether rc-mcp had seen the message; null without store")
    recalled: Message | None = Field(None, description="The message as rc-mcp last saw it (local history)")

    @field_serializer("deleted_at")
    def _iso(self, value: datetime) -> str:
        return iso(value)

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> Deletion:
        deleted_at = parse_wire_date(doc.get("_deletedAt")) or EPOCH
        return cls(id=str(doc.get("_id", "")), deleted_at=deleted_at)


class SyncResult(_Model):
    """What one tool call found, in the order it is shown, with how to go on."""

    tool: Literal["sync_messages", "list_deleted", "catch_up"]
    room_id: str
    room_name: str | None = Field(None, description="The room's unique name, when known")
    mode: Mode = Field(description="last_update, next (forward from a cursor) or previous (backward)")
    since: datetime | None = Field(None, description="The last_update the call used (last_update mode)")
    cursor: str | None = Field(None, description="The next/previous cursor the call used (cursor modes)")
    messages: list[Message] = Field(default_factory=list)
    deleted: list[Deletion] = Field(default_factory=list)
    total: int | None = Field(
        None, description="last_update mode: how many items the server returned in all (before offset/count)"
    )
    offset: int = 0
    other_stream_count: int | None = Field(
        None,
        description="last_update mode: how many items the other tool would show for the same last_update",
    )
    next_cursor: str | None = Field(
        None, description="Pass as 'next' to continue forward; null when nothing further that way"
    )
    previous_cursor: str | None = Field(
        None, description="Pass as 'previous' to continue backward; null when nothing further that way"
    )
    continuation: dict[str, Any] | None = Field(
        None, description="Exact arguments for the next call when this result was cut short; else null"
    )
    watermark: str | None = Field(
        None,
        description="Milliseconds of the newest change seen; pass as 'next' later to get only newer changes",
    )
    checkpoint: str | None = Field(None, description="catch_up: the checkpoint name")
    caught_up: bool | None = Field(None, description="catch_up: both streams were read to the end")
    retry_after_seconds: int | None = Field(
        None, description="Set when the server's rate limit stopped the call early: wait this long, then call again"
    )

    @field_serializer("since")
    def _iso(self, value: datetime | None) -> str | None:
        return iso(value) if value is not None else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _reactions(raw: object) -> list[Reaction]:
    if not isinstance(raw, dict):
        return []
    out = []
    for emoji, entry in raw.items():
        names = entry.get("usernames") if isinstance(entry, dict) else None
        usernames = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        out.append(Reaction(emoji=str(emoji), usernames=usernames))
    return out


def _files(doc: dict[str, Any]) -> list[FileRef]:
    raw = doc.get("files")
    entries = raw if isinstance(raw, list) else ([doc["file"]] if isinstance(doc.get("file"), dict) else [])
    out = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            size = entry.get("size")
            out.append(
                FileRef(
                    name=entry["name"],
                    type=_str(entry.get("type")),
                    size=size if isinstance(size, int) else None,
                )
            )
    return out


def _attachments(raw: object) -> list[Attachment]:
    if not isinstance(raw, list):
        return []
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        # File uploads repeat the file as an attachment with title_link; the file list already has it.
        if isinstance(entry.get("title_link"), str) and entry.get("type") == "file":
            continue
        link = entry.get("message_link")
        quoted = link.rsplit("msg=", 1)[-1] if isinstance(link, str) and "msg=" in link else None
        out.append(
            Attachment(
                title=_str(entry.get("title")) or _str(entry.get("author_name")),
                text=_str(entry.get("text")) or _str(entry.get("description")),
                quoted_message_id=quoted,
            )
        )
    return out
