"""Pure functions that turn a ``SyncResult`` into the text an agent reads.

Format: a header line, then one line per item in UTC, with a date line whenever the day changes,
then a footer that gives the exact arguments of the next call. Message text is untrusted: control
and invisible characters are removed and line breaks are escaped, so no message can start a line
of its own (and therefore cannot forge a header, a footer or another message).
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from typing import Any

from rc_mcp.models import SHOWN_TEXT_LIMIT, Deletion, FileRef, Message, SyncResult, from_ms, iso

ATTACHMENT_TEXT_LIMIT = 200

SYSTEM_EVENTS: dict[str, str] = {
    "uj": "joined the room",
    "ul": "left the room",
    "ru": "removed a user from the room",
    "au": "added a user to the room",
    "ut": "joined the conversation",
    "ujt": "joined the team",
    "ult": "left the team",
    "r": "renamed the room",
    "wm": "welcome message",
    "rm": "message deleted (placeholder: its content was removed)",
    "mute_unmute": "muted or unmuted a user",
    "user-muted": "muted a user",
    "user-unmuted": "unmuted a user",
    "subscription-role-added": "gave a user a room role",
    "subscription-role-removed": "took a room role from a user",
    "new-moderator": "made a user moderator",
    "moderator-removed": "removed a moderator",
    "new-owner": "made a user owner",
    "owner-removed": "removed an owner",
    "new-leader": "made a user leader",
    "leader-removed": "removed a leader",
    "room-archived": "archived the room",
    "room-unarchived": "unarchived the room",
    "room_changed_privacy": "changed the room's privacy",
    "room_changed_description": "changed the room description",
    "room_changed_announcement": "changed the room announcement",
    "room_changed_avatar": "changed the room avatar",
    "room_changed_topic": "changed the room topic",
    "room_e2e_enabled": "enabled end-to-end encryption",
    "room_e2e_disabled": "disabled end-to-end encryption",
    "room-removed-read-only": "made the room writable",
    "room-set-read-only": "made the room read-only",
    "room-allowed-reacting": "allowed reactions",
    "room-disallowed-reacting": "disallowed reactions",
    "message_pinned": "pinned a message",
    "message_pinned_e2e": "pinned an encrypted message",
    "discussion-created": "started a discussion",
    "command": "ran a slash command",
    "videoconf": "started a video call",
    "otr": "started an off-the-record chat",
    "otr-ack": "accepted an off-the-record chat",
    "added-user-to-team": "added a user to the team",
    "removed-user-from-team": "removed a user from the team",
    "user-converted-to-team": "converted the room to a team",
    "user-converted-to-channel": "converted the team to a channel",
    "user-added-room-to-team": "added a room to the team",
    "user-removed-room-from-team": "removed a room from the team",
    "user-deleted-room-from-team": "deleted a room from the team",
    "livechat-started": "omnichannel conversation started",
    "livechat-close": "omnichannel conversation closed",
    "livechat_navigation_history": "visitor navigated to a page",
    "livechat_transfer_history": "conversation transferred",
    "livechat_transfer_history_fallback": "conversation transferred (fallback)",
    "livechat_transcript_history": "transcript requested",
    "livechat_video_call": "video call in omnichannel",
    "livechat_webrtc_video_call": "video call in omnichannel",
    "omnichannel_placed_chat_on_hold": "conversation put on hold",
    "omnichannel_on_hold_chat_resumed": "conversation resumed",
    "omnichannel_priority_change_history": "priority changed",
    "omnichannel_sla_change_history": "SLA changed",
    "voip-call-started": "call started",
    "voip-call-declined": "call declined",
    "voip-call-on-hold": "call on hold",
    "voip-call-unhold": "call resumed",
    "voip-call-ended": "call ended",
    "voip-call-duration": "call duration recorded",
    "voip-call-wrapup": "call wrap-up",
    "voip-call-ended-unexpectedly": "call ended unexpectedly",
}

CHANGE_WORDS: dict[str, str] = {
    "new": "new",
    "unchanged": "seen before, unchanged",
    "edited": "text edited",
    "reactions": "reactions changed",
    "thread": "new thread activity",
    "pinned": "pinned since last seen",
    "unpinned": "unpinned since last seen",
    "removed": "deleted since last seen (placeholder left)",
    "other": "changed (not text, reactions, thread or pin)",
}

# Characters that break a line in some renderer: all become an escaped "\n".
_LINE_BREAKS = str.maketrans({"\r": "\n", "\v": "\n", "\f": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})
_ZWJ = "\u200d"


def clean(text: str, limit: int | None = None) -> str:
    """Untrusted text made safe for one line: invisible characters gone, line breaks escaped.

    ``limit`` cuts long text with a visible marker saying how much was left out.
    """
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS).replace("\t", " ")
    kept = [ch for i, ch in enumerate(text) if _visible(ch, text[i - 1] if i else "")]
    cleaned = "".join(kept)
    suffix = ""
    if limit is not None and len(cleaned) > limit:
        suffix = f"…[+{len(cleaned) - limit} chars]"
        cleaned = cleaned[:limit]
    return cleaned.replace("\\", "\\\\").replace("\n", "\\n") + suffix


def _visible(ch: str, previous: str) -> bool:
    if ch == "\n":
        return True
    if ch == _ZWJ:
        # Keep the joiner inside emoji sequences (👩‍💻); anywhere else it only hides things.
        return bool(previous) and unicodedata.category(previous) in ("So", "Sk", "Mn")
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")


def render(result: SyncResult) -> str:
    """The whole text answer of one tool call."""
    lines = [_header(result)]
    if result.tool == "catch_up":
        if result.messages:
            lines.append("changed messages:")
            lines.extend(_lines(result.messages))
        if result.deleted:
            lines.append("deleted messages:")
            lines.extend(_lines(result.deleted))
    else:
        lines.extend(_lines(result.messages if result.tool == "sync_messages" else result.deleted))
    if len(lines) == 1:
        lines.append(_nothing(result))
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
        lines.append(message_line(item) if isinstance(item, Message) else deletion_line(item))
    return lines


def message_line(message: Message) -> str:
    """One message: time, id, author, markers and text, on a single line."""
    # Ids come from the server too; a hostile one must not break the line format either.
    parts = [_clock(message.ts), clean(message.id, 40), _author(message)]
    markers = _markers(message)
    head = " ".join(parts)
    if message.type is not None:
        event = SYSTEM_EVENTS.get(message.type, f"system event '{clean(message.type, 40)}'")
        tail = f" [{event}]" + "".join(f" [{m}]" for m in markers)
        detail = clean(message.text, SHOWN_TEXT_LIMIT)
        return f"{head}{tail}: {detail}" if detail else head + tail
    tail = "".join(f" [{m}]" for m in markers)
    return f"{head}{tail}: {clean(message.text, SHOWN_TEXT_LIMIT)}"


def deletion_line(deletion: Deletion) -> str:
    line = f"{_clock(deletion.deleted_at)} {clean(deletion.id, 40)} deleted"
    if deletion.recalled is not None:
        was = deletion.recalled
        text = clean(was.text, SHOWN_TEXT_LIMIT) if was.text else "(no text)"
        return (
            f"{line}; recalled from local history: {was.ts.date().isoformat()} {_clock(was.ts)} {_author(was)}: {text}"
        )
    if deletion.seen_before is False:
        return f"{line}; never seen by rc-mcp, so only its id and deletion time are known"
    return line


def _author(message: Message) -> str:
    author = clean(message.author, 80)
    if message.alias:
        return f'"{clean(message.alias, 80).replace(chr(34), chr(39))}" ({author})'
    return author


def _markers(message: Message) -> list[str]:
    out = []
    change = message.change
    diff = change.diff if change is not None and "edited" in change.kinds else None
    if change is not None and change.kinds != ["new"]:
        words = [CHANGE_WORDS[k] for k in change.kinds if not (k == "edited" and message.edited_at)]
        if diff and not message.edited_at:
            words = [f"text edited: {clean(diff, 400)}" if w == CHANGE_WORDS["edited"] else w for w in words]
        if words:
            out.append("; ".join(words))
    if message.encrypted:
        out.append("encrypted: text not readable")
    if message.edited_at is not None and message.type != "rm":
        by = f" by {clean(message.edited_by, 80)}" if message.edited_by and message.edited_by != message.author else ""
        what = f": {clean(diff, 400)}" if diff else ""
        out.append(f"edited {_clock(message.edited_at)}{by}{what}")
    if message.thread_id:
        also = ", also sent to room" if message.shown_in_room else ""
        out.append(f"in thread {clean(message.thread_id, 40)}{also}")
    if message.thread_reply_count:
        last = f", last {_clock(message.thread_last_reply)}" if message.thread_last_reply else ""
        replies = "reply" if message.thread_reply_count == 1 else "replies"
        out.append(f"thread: {message.thread_reply_count} {replies}{last}")
    if message.discussion_room_id:
        out.append(f"discussion room {clean(message.discussion_room_id, 40)}")
    out.extend(_file(f) for f in message.files)
    for attachment in message.attachments:
        if attachment.quoted_message_id:
            out.append(f"quotes {clean(attachment.quoted_message_id, 40)}")
            continue
        title = f' "{clean(attachment.title, 80)}"' if attachment.title else ""
        text = f": {clean(attachment.text, ATTACHMENT_TEXT_LIMIT)}" if attachment.text else ""
        out.append(f"attachment{title}{text}")
    if message.reactions:
        out.append("reactions " + ", ".join(f"{clean(r.emoji, 40)} {len(r.usernames)}" for r in message.reactions))
    if message.pinned:
        out.append("pinned")
    # Reactions, pins and thread replies also stamp _updatedAt; only an unexplained change is worth a marker.
    explained = (
        message.edited_at is not None
        or message.thread_last_reply == message.updated_at
        or bool(message.reactions)
        or message.pinned
    )
    if not explained and (message.updated_at - message.ts).total_seconds() >= 1:
        out.append(f"changed {_clock(message.updated_at)}")
    return out


def _file(file: FileRef) -> str:
    size = f", {_size(file.size)}" if file.size is not None else ""
    kind = f" ({clean(file.type, 60)}{size})" if file.type else (f" ({_size(file.size)})" if file.size else "")
    return f"file {clean(file.name, 120)}{kind}"


def _size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:g} {unit}" if unit == "B" else f"{size:.0f} {unit}"
        size //= 1024
    return f"{size} GB"


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%H:%M:%S") if moment else "?"


def _header(result: SyncResult) -> str:
    room = f"#{clean(result.room_name, 80)} (id {result.room_id})" if result.room_name else result.room_id
    parts = [f"{result.tool} room={room}"]
    if result.tool == "catch_up":
        parts.append(f"checkpoint={result.checkpoint}")
        parts.append(f"changes since {iso(result.since) if result.since else '?'}")
        parts.append(f"{_count(len(result.messages), 'changed message')}{_kinds(result)}")
        parts.append(_count(len(result.deleted), "deletion"))
        parts.append("times UTC")
        return " | ".join(parts)
    shown = len(result.messages) if result.tool == "sync_messages" else len(result.deleted)
    what = "messages" if result.tool == "sync_messages" else "deletions"
    if result.mode == "last_update":
        verb = "changed" if result.tool == "sync_messages" else "deleted"
        parts.append(f"{verb} since {iso(result.since) if result.since else '?'}")
        window = f"{result.offset + 1}-{result.offset + shown}" if shown else "0"
        parts.append(f"{what} {window} of {result.total}{_kinds(result)}")
        if result.other_stream_count:
            other = "deletion" if result.tool == "sync_messages" else "changed message"
            tool = "list_deleted" if result.tool == "sync_messages" else "sync_messages"
            parts.append(f"{_count(result.other_stream_count, other)} in the same range ({tool} shows them)")
    else:
        verb = "changed" if result.tool == "sync_messages" else "deleted"
        direction = "after" if result.mode == "next" else "before"
        anchor = f"{iso(from_ms(int(result.cursor)))} (cursor {result.cursor})" if result.cursor else "the cursor"
        parts.append(f"{verb} {direction} {anchor}")
        order = "oldest first" if result.mode == "next" else "newest first"
        parts.append(f"{_count(shown, what[:-1])}{_kinds(result)}, {order}")
    parts.append("times UTC")
    return " | ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _kinds(result: SyncResult) -> str:
    """``: 3 new, 1 text edited`` when the local store classified the messages, else nothing."""
    tally: dict[str, int] = {}
    for message in result.messages:
        for kind in message.change.kinds if message.change else ():
            tally[kind] = tally.get(kind, 0) + 1
    if not tally:
        return ""
    return " (" + ", ".join(f"{n} {CHANGE_WORDS[k]}" for k, n in tally.items()) + ")"


def _nothing(result: SyncResult) -> str:
    if result.tool == "catch_up":
        return "(nothing changed since the last look)"
    what = "no messages changed" if result.tool == "sync_messages" else "no messages deleted"
    if result.mode == "last_update":
        return f"({what} since {iso(result.since) if result.since else '?'})"
    return f"({what} {'after' if result.mode == 'next' else 'before'} this cursor)"


def _footer(result: SyncResult) -> str:
    if result.retry_after_seconds is not None and result.continuation:
        return (
            f"paused: Rocket.Chat's rate limit stopped this call early; in {result.retry_after_seconds} s "
            f"call {result.tool} {_args(result.continuation)}"
        )
    if result.continuation:
        return f"more: call {result.tool} {_args(result.continuation)}"
    if result.tool == "catch_up":
        when = f" to {iso(from_ms(int(result.watermark)))}" if result.watermark else ""
        again = {"room_id": result.room_id, "checkpoint": result.checkpoint}
        return f"end: caught up{when}; checkpoint saved. Later, call catch_up {_args(again)} for newer changes."
    if result.mode == "previous":
        return "end: this is the oldest change."
    if result.watermark:
        later = {"room_id": result.room_id, "next": result.watermark}
        return f"end: up to date. For later changes call {result.tool} {_args(later)}"
    return "end."


def _args(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
