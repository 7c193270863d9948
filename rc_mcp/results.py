"""What one tool call found, in the order it is shown, with how to go on: one type per kind of answer.

``StreamPage`` answers ``sync_messages`` and ``list_deleted``; ``CatchUp`` answers ``catch_up``.
Both are also the structured content the tools return, so fields that only repeat another field
or hold their default are left out of it (``structured``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from rc_mcp.lines import item_line
from rc_mcp.models import Deletion, Item, Message, RoomEntry, Stream, UtcTime
from rc_mcp.rules import Mode

# What the output budget counts besides the items' lines: per line, its line break and at most a date
# line before it; per answer, its header and footer; per room of a workspace answer, its section
# header and stream labels. (Notes are not counted: they are few and short.)
LINE_SHARE_CHARS = 20
FRAME_CHARS = 500
SECTION_CHARS = 200

# Why a call stopped before it read everything it could show.
CutShort = Literal["rate_limit", "deadline", "request_budget"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    room_id: str
    room_name: str | None = Field(
        None,
        description='What the room is called: its unique name (general), a discussion\'s "title", a direct '
        "message's @username; null when not known",
    )
    messages: list[Message] = Field(default_factory=list)
    deleted: list[Deletion] = Field(default_factory=list)
    continuation: dict[str, Any] | None = Field(
        None, description="Exact arguments for the next call when this result was cut short; else null"
    )
    watermark: str | None = Field(
        None, description="Milliseconds of the newest change seen; pass as 'next' later to get only newer changes"
    )
    cut_short: CutShort | None = Field(None, description="Why the call stopped early: rate_limit, deadline, …")
    retry_after_seconds: int | None = Field(
        None, description="Set when the server's rate limit stopped the call early: wait this long, then call again"
    )
    notes: list[str] = Field(default_factory=list, description="Things the agent should know about this answer")

    def with_notes(self, notes: list[str]) -> Self:
        """The same result with ``notes`` said first."""
        return self.model_copy(update={"notes": [*notes, *self.notes]}) if notes else self

    def structured(self) -> dict[str, Any]:
        """The structured content: every field of the answer, and of each item every fact of the text
        without defaults or the room id repeated."""
        data = self.model_dump(mode="json", exclude={"messages", "deleted"})
        data["messages"] = [
            m.model_dump(mode="json", exclude_defaults=True, exclude={"room_id"}) for m in self.messages
        ]
        data["deleted"] = [
            d.model_dump(mode="json", exclude_defaults=True, exclude={"recalled": {"room_id"}}) for d in self.deleted
        ]
        return data


class StreamPage(_Result):
    """One page of one stream: ``updated`` (sync_messages) or ``deleted`` (list_deleted)."""

    stream: Stream
    mode: Mode = Field(description="last_update, next (forward from a cursor) or previous (backward)")
    position: str = Field(description="Where this page started: the exclusive bound in milliseconds")
    since: UtcTime | None = Field(None, description="The last_update the call used (last_update mode)")
    next_cursor: str | None = Field(
        None, description="Pass as 'next' to continue forward; null when nothing further that way"
    )
    previous_cursor: str | None = Field(
        None, description="Pass as 'previous' to continue backward; null when nothing further that way"
    )


class CatchUp(_Result):
    """Both streams of one room since a checkpoint's last look."""

    checkpoint: str = Field(description="The checkpoint name")
    since: UtcTime = Field(description="Where this look started (server time)")
    caught_up: bool = Field(description="Both streams were read to the end")


def estimate_chars(item: Item) -> int:
    """The characters an item adds to the text answer: its line exactly as rendered (recalled texts and
    edit diffs included, once the history has annotated it), and its share of the lines around it."""
    return len(item_line(item)) + LINE_SHARE_CHARS


class WorkspaceCatchUp(BaseModel):
    """``catch_up`` without a room: one section per room that changed, since the checkpoint's last look."""

    model_config = ConfigDict(frozen=True)

    checkpoint: str
    since: UtcTime = Field(description="Where a room's first look starts for this checkpoint")
    sections: list[CatchUp] = Field(default_factory=list, description="One catch-up per room with something to show")
    rooms_total: int = Field(description="Rooms the account is in")
    rooms_changed: int = Field(description="Rooms whose activity moved since their last look")
    rooms_swept: int = Field(description="Quiet rooms re-read this call, for edits and reactions")
    rooms_passed_over: int = Field(
        0, description="Rooms this account may not read: left unread, tried again by later calls"
    )
    swept_at: UtcTime | None = Field(None, description="When every room was last re-read; null until it has been")
    caught_up: bool = Field(
        description="Every room was read to its end: false when the call stopped early or passed a room over"
    )
    continuation: dict[str, Any] | None = None
    cut_short: CutShort | None = None
    retry_after_seconds: int | None = None
    notes: list[str] = Field(default_factory=list)

    def with_notes(self, notes: list[str]) -> Self:
        return self.model_copy(update={"notes": [*notes, *self.notes]}) if notes else self

    def structured(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"sections"})
        data["sections"] = [section.structured() for section in self.sections]
        return data


class FoundMessage(Message):
    """A message the search found, in the room it is in; ``deleted_at`` when rc-mcp saw it deleted."""

    deleted_at: UtcTime | None = Field(None, description="Set when the message was deleted: its text is recalled")


class SearchPage(BaseModel):
    """``search_history``: messages rc-mcp has seen that match, best match first."""

    model_config = ConfigDict(frozen=True)

    query: str
    room_id: str | None = None
    messages: list[FoundMessage] = Field(default_factory=list)
    offset: int = 0
    searched: int = Field(description="How many messages rc-mcp keeps and searched (for this account)")
    rooms: dict[str, str | None] = Field(
        default_factory=dict, description="The rooms those messages are in: id → name, when known"
    )
    oldest_seen_at: UtcTime | None = Field(None, description="When rc-mcp saw the oldest of them")
    continuation: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)

    def with_notes(self, notes: list[str]) -> Self:
        return self.model_copy(update={"notes": [*notes, *self.notes]}) if notes else self

    def structured(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"messages"})
        data["messages"] = [m.model_dump(mode="json", exclude_defaults=True) for m in self.messages]
        return data


class RoomPage(BaseModel):
    """``list_rooms``: the rooms the account is in, most recent activity first."""

    model_config = ConfigDict(frozen=True)

    rooms: list[RoomEntry] = Field(default_factory=list)
    total: int = Field(description="How many rooms match, before offset and count")
    offset: int = 0
    query: str | None = None
    continuation: dict[str, Any] | None = Field(None, description="Exact arguments for the next page; null at the end")
    notes: list[str] = Field(default_factory=list)

    def structured(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"rooms"})
        data["rooms"] = [r.model_dump(mode="json", exclude={"alert"} if not r.alert else None) for r in self.rooms]
        return data


@dataclass(frozen=True)
class Budget:
    """How much one answer may show: items, and about how many characters."""

    max_items: int
    max_chars: int

    def fit(self, items: Sequence[Item]) -> int:
        """How many leading items to show: at most ``max_items``, within ``max_chars``, at least 1
        (unless the budget is spent)."""
        if self.max_items <= 0 or self.max_chars <= 0:
            return 0
        used = 0
        for index, item in enumerate(items[: self.max_items]):
            used += estimate_chars(item)
            if used > self.max_chars and index > 0:
                return index
        return min(len(items), self.max_items)

    def after(self, shown: Sequence[Item]) -> Budget:
        """What is left once ``shown`` is shown."""
        return Budget(self.max_items - len(shown), self.max_chars - sum(map(estimate_chars, shown)))

    def reserve(self, chars: int) -> Budget:
        """What is left for items once ``chars`` are set aside for other lines (headers, footers)."""
        return Budget(self.max_items, self.max_chars - chars)
