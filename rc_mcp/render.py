"""Pure functions that turn a result (``StreamPage``, ``CatchUp``, ...) into the text an agent reads.

Format: a header line, then one line per item in UTC (``lines``), with a date line whenever the day
changes, then a footer that gives the exact arguments of the next call. Message text is untrusted: control
and invisible characters are removed and line breaks are escaped, so no message can start a line
of its own (and therefore cannot forge a header, a footer or another message).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rc_mcp.lines import CHANGE_WORDS, item_line, message_line
from rc_mcp.models import LABELLED, Deletion, Message, RoomEntry, Stream, called
from rc_mcp.results import (
    CatchUp,
    FoundMessage,
    RoomPage,
    SearchPage,
    StreamPage,
    WorkspaceCatchUp,
)
from rc_mcp.sanitize import clean, unsafe
from rc_mcp.times import from_ms, iso

# The tools' names, as the text tells the agent to call them.
STREAM_TOOLS: dict[Stream, str] = {"updated": "sync_messages", "deleted": "list_deleted"}
CATCH_UP_TOOL = "catch_up"
LIST_ROOMS_TOOL = "list_rooms"
SEARCH_TOOL = "search_history"
ROOMS_NAMED = 5


def render(result: StreamPage | CatchUp | RoomPage | WorkspaceCatchUp | SearchPage) -> str:
    """The whole text answer of one tool call."""
    if isinstance(result, RoomPage):
        return _room_page(result)
    if isinstance(result, SearchPage):
        return _search_page(result)
    if isinstance(result, WorkspaceCatchUp):
        return _workspace(result)
    lines = [_catch_up_header(result) if isinstance(result, CatchUp) else _stream_header(result)]
    lines.extend(f"note: {clean(note, 600)}" for note in _notes(result))
    if isinstance(result, CatchUp):
        body = _catch_up_body(result)
    else:
        body = _lines(result.messages if result.stream == "updated" else result.deleted)
    lines.extend(body or [_nothing(result)])
    lines.append(_footer(result))
    return "\n".join(lines)


def _catch_up_body(result: CatchUp) -> list[str]:
    body = []
    if result.messages:
        body.append("changed messages:")
        body.extend(_lines(result.messages))
    if result.deleted:
        body.append("deleted messages:")
        body.extend(_lines(result.deleted))
    return body


def _workspace(result: WorkspaceCatchUp) -> str:
    messages = sum(len(s.messages) for s in result.sections)
    deletions = sum(len(s.deleted) for s in result.sections)
    swept = f"whole workspace last swept {iso(result.swept_at)}" if result.swept_at else "not yet swept whole"
    header = [
        f"{CATCH_UP_TOOL} workspace",
        f"checkpoint={clean(result.checkpoint, 64)}",
        f"{result.rooms_changed} of {_count(result.rooms_total, 'room')} changed, {result.rooms_swept} quiet re-read",
        f"{_count(messages, 'changed message')}, {_count(deletions, 'deletion')}",
        swept,
        "times UTC",
    ]
    lines = [" | ".join(header)]
    lines.extend(f"note: {clean(note, 600)}" for note in _notes(result))
    for section in result.sections:
        counts = f"{_count(len(section.messages), 'changed message')}{_kinds(section.messages)}, "
        lines.append(f"== {_room(section)}: {counts}{_count(len(section.deleted), 'deletion')} ==")
        # A section's own notes only (what the history could not do for this room): the call's notes,
        # a time limit included, are said once, above.
        lines.extend(f"note: {clean(note, 600)}" for note in section.notes)
        lines.extend(_catch_up_body(section))
    if not result.sections:
        lines.append(f"(nothing changed in any room since the last look; first looks start {iso(result.since)})")
    lines.append(_footer(result))
    return "\n".join(lines)


def _lines(items: list[Message] | list[Deletion]) -> list[str]:
    lines = []
    day = None
    for item in items:
        moment = item.ts if isinstance(item, Message) else item.deleted_at
        if moment.date() != day:
            day = moment.date()
            lines.append(f"{day.isoformat()} (UTC)")
        lines.append(item_line(item))
    return lines


def _room(result: StreamPage | CatchUp) -> str:
    """``#general (id GENERAL)``, or the id alone when the room's name is not known."""
    called = _called(result.room_name)
    room_id = clean(result.room_id, 80)
    return f"{called} (id {room_id})" if called else room_id


def _called(name: str | None) -> str | None:
    """How a room is called in the text (``models.called``), its name cleaned; None when not known."""
    return called(clean(name, 80)) if name else None


def _catch_up_header(result: CatchUp) -> str:
    return " | ".join(
        [
            f"{CATCH_UP_TOOL} room={_room(result)}",
            f"checkpoint={clean(result.checkpoint, 64)}",
            f"changes since {iso(result.since)}",
            f"{_count(len(result.messages), 'changed message')}{_kinds(result.messages)}",
            _count(len(result.deleted), "deletion"),
            "times UTC",
        ]
    )


def _stream_header(result: StreamPage) -> str:
    updated = result.stream == "updated"
    verb = "changed" if updated else "deleted"
    if result.mode == "last_update" and result.since is not None:
        where = f"{verb} since {iso(result.since)}"
    else:
        direction = "after" if result.mode == "next" else "before"
        where = f"{verb} {direction} {iso(from_ms(int(result.position)))} (cursor {result.position})"
    shown = len(result.messages) if updated else len(result.deleted)
    order = "newest first" if result.mode == "previous" else "oldest first"
    noun = "message" if updated else "deletion"
    kinds = _kinds(result.messages) if updated else ""
    parts = [f"{STREAM_TOOLS[result.stream]} room={_room(result)}", where, f"{_count(shown, noun)}{kinds}, {order}"]
    return " | ".join([*parts, "times UTC"])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _kinds(messages: list[Message]) -> str:
    """`` (3 new, 1 text edited)`` when the local history classified the messages, else nothing."""
    tally: dict[str, int] = {}
    for message in messages:
        for kind in message.change.kinds if message.change else ():
            tally[kind] = tally.get(kind, 0) + 1
    if not tally:
        return ""
    return " (" + ", ".join(f"{n} {CHANGE_WORDS[k]}" for k, n in tally.items()) + ")"


def _notes(result: StreamPage | CatchUp | WorkspaceCatchUp) -> list[str]:
    notes = list(result.notes)
    if result.cut_short == "deadline":
        notes.append("this call reached its time limit before it read everything; the next call goes on from here")
    elif result.cut_short == "request_budget":
        notes.append("this call made as many requests as one call may; the next call goes on from here")
    return notes


def _nothing(result: StreamPage | CatchUp) -> str:
    if isinstance(result, CatchUp):
        return "(nothing changed since the last look)"
    what = "no messages changed" if result.stream == "updated" else "no messages deleted"
    if result.mode == "last_update" and result.since is not None:
        return f"({what} since {iso(result.since)})"
    return f"({what} {'after' if result.mode == 'next' else 'before'} this cursor)"


def _footer(result: StreamPage | CatchUp | WorkspaceCatchUp) -> str:
    tool = STREAM_TOOLS[result.stream] if isinstance(result, StreamPage) else CATCH_UP_TOOL
    if result.continuation and result.cut_short == "rate_limit" and result.retry_after_seconds is not None:
        return (
            f"paused: Rocket.Chat's rate limit stopped this call early; in {result.retry_after_seconds} s "
            f"call {tool} {json_line(result.continuation)}"
        )
    if result.continuation:
        return f"more: call {tool} {json_line(result.continuation)}"
    if isinstance(result, WorkspaceCatchUp):
        again = {"checkpoint": result.checkpoint}
        return (
            f"end: caught up in every room{_but(result.rooms_passed_over)}; checkpoint saved. Later, call {tool} "
            f"{json_line(again)} for newer changes."
        )
    if isinstance(result, CatchUp):
        when = f" to {iso(from_ms(int(result.watermark)))}" if result.watermark else ""
        again = {"room_id": result.room_id, "checkpoint": result.checkpoint}
        return f"end: caught up{when}; checkpoint saved. Later, call {tool} {json_line(again)} for newer changes."
    if result.mode == "previous":
        return "end: this is the oldest change."
    if result.watermark:
        later = {"room_id": result.room_id, "next": result.watermark}
        return f"end: up to date. For later changes call {tool} {json_line(later)}"
    return "end."


def _but(passed_over: int) -> str:
    return f" but the {_count(passed_over, 'room')} passed over (see the notes)" if passed_over else ""


def json_line(arguments: dict[str, Any]) -> str:
    """Arguments as exact JSON on one line: anything invisible or line-breaking is \\u-escaped."""
    text = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
    return unsafe().sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    encoded = match.group().encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}" for i in range(0, len(encoded), 2))


def _room_page(page: RoomPage) -> str:
    shown = f"{page.offset + 1}-{page.offset + len(page.rooms)} of {page.total}" if page.rooms else f"0 of {page.total}"
    which = f' matching "{clean(page.query, 80)}"' if page.query else ""
    lines = [f"{LIST_ROOMS_TOOL} | rooms the account is in{which}: {shown}, most recent activity first | times UTC"]
    lines.extend(f"note: {clean(note, 600)}" for note in page.notes)
    lines.extend(room_line(room) for room in page.rooms)
    if not page.rooms:
        lines.append("(no rooms" + (" match)" if page.query else ")"))
    lines.append(f"more: call {LIST_ROOMS_TOOL} {json_line(page.continuation)}" if page.continuation else "end.")
    return "\n".join(lines)


def room_line(room: RoomEntry) -> str:
    """``#general (id GENERAL) channel: 2 unread, 1 mention, last message 2026-11-20 09:14:00``."""
    counts = [f"{room.unread} unread"] if room.unread else []
    if room.mentions:
        counts.append(_count(room.mentions, "mention"))
    if room.alert and not room.unread:
        counts.append("new activity")
    when = f"last message {room.last_message_at:%Y-%m-%d %H:%M:%S}" if room.last_message_at else "no messages"
    # A name that does not say what it is (the room's id, when the server gave no name) must not start
    # the line bare: "end" or "more: ..." would read as this answer's last line.
    name = clean(room.name, 80)
    label = name if name.startswith(LABELLED) else f"room {name}"
    return f"{label} (id {clean(room.id, 40)}) {room.type}: {', '.join([*counts, when])}"


def _search_page(page: SearchPage) -> str:
    first, last = page.offset + 1, page.offset + len(page.messages)
    where = f" in {_room_name(page.rooms, page.room_id)}" if page.room_id else ""
    hits = f"hits {first}-{last}" if page.messages else "no hits"
    header = [f"{SEARCH_TOOL} '{clean(page.query, 120)}'{where}", f"{hits}, best match first", "times UTC"]
    rooms = [_room_name(page.rooms, room_id) for room_id in list(page.rooms)[:ROOMS_NAMED]]
    more = f" and {len(page.rooms) - ROOMS_NAMED} more" if len(page.rooms) > ROOMS_NAMED else ""
    since = f", seen since {iso(page.oldest_seen_at)}" if page.oldest_seen_at else ""
    scope = (
        f"only what rc-mcp has shown before is searched: {_count(page.searched, 'message')} in "
        f"{_count(len(page.rooms), 'room')} ({', '.join(rooms)}{more}){since}; read rooms with catch_up or "
        "sync_messages to search more"
    )
    # The scope note is made of parts already cleaned (room names): cleaning it again would double their
    # escapes, and a room would be called one thing here and another in the header and the hits.
    lines = [" | ".join(header), f"note: {scope}", *(f"note: {clean(note, 600)}" for note in page.notes)]
    lines.extend(_found_line(message, page.rooms) for message in page.messages)
    if not page.messages:
        lines.append(f"(no message rc-mcp has seen matches '{clean(page.query, 120)}')")
    lines.append(f"more: call {SEARCH_TOOL} {json_line(page.continuation)}" if page.continuation else "end.")
    return "\n".join(lines)


def _found_line(message: FoundMessage, rooms: dict[str, str | None]) -> str:
    """``#room 2026-11-20 09:12:00 <id> <author> [markers]: text``, deleted ones marked as such."""
    deleted = (
        [f"deleted {message.deleted_at:%Y-%m-%d %H:%M:%S}; text recalled from local history"]
        if message.deleted_at
        else []
    )
    return f"{_room_name(rooms, message.room_id)} {message.ts:%Y-%m-%d} {message_line(message, deleted)}"


def _room_name(rooms: dict[str, str | None], room_id: str) -> str:
    return _called(rooms.get(room_id)) or f"room {clean(room_id, 40)}"
