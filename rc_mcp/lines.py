"""One message or deletion as one line of text: what the agent reads for each item (time, id, author,
markers, text), and what the output budget counts before a page is rendered (``results.estimate_chars``).

Message text is untrusted: every field passes through ``sanitize.clean``, so no item can start a line
of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rc_mcp.models import Attachment, Deletion, FileRef, Message, Reaction
from rc_mcp.sanitize import clean

# How much of one text the agent sees; longer texts end with a visible "…[+N chars]". The output
# budget counts the lines as rendered with these.
SHOWN_TEXT_LIMIT = 1_500
ATTACHMENT_TEXT_LIMIT = 200
FIELD_LIMIT = 120
DIFF_LIMIT = 400
REACTORS_SHOWN = 3
# A last change this long after sending, and not explained by a marker, gets a "changed" marker.
CHANGE_SHOWN_AFTER = timedelta(seconds=1)

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


def item_line(item: Message | Deletion) -> str:
    """One message or deletion, on a single line."""
    return message_line(item) if isinstance(item, Message) else deletion_line(item)


def message_line(message: Message, first: list[str] | None = None) -> str:
    """One message: time, id, author, markers (``first`` before the others) and text, on a single line."""
    # Ids come from the server too; a hostile one must not break the line format either.
    markers = [*(first or []), *_markers(message)]
    if message.type is not None:
        markers.insert(0, SYSTEM_EVENTS.get(message.type, f"system event '{clean(message.type, 40)}'"))
    tail = f" [{'] ['.join(markers)}]" if markers else ""
    head = f"{_clock(message.ts)} {clean(message.id, 40)} {_author(message)}{tail}"
    text = clean(message.text, SHOWN_TEXT_LIMIT)
    # A system event without text ends with its markers; a message always has its colon.
    return head if message.type is not None and not text else f"{head}: {text}"


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
            words = [f"text edited: {clean(diff, DIFF_LIMIT)}" if w == CHANGE_WORDS["edited"] else w for w in words]
        if words:
            out.append("; ".join(words))
    if message.encrypted:
        out.append("encrypted: text not readable")
    if message.edited_at is not None and message.type != "rm":
        by = f" by {clean(message.edited_by, 80)}" if message.edited_by and message.edited_by != message.author else ""
        what = f": {clean(diff, DIFF_LIMIT)}" if diff else ""
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
    out.extend(map(_file, message.files))
    out.extend(map(_attachment, message.attachments))
    if message.reactions:
        out.append("reactions " + "; ".join(_reaction(r) for r in message.reactions))
    if message.pinned:
        out.append("pinned")
    # Reactions, pins and thread replies also stamp _updatedAt; only an unexplained change is worth a marker.
    if message.updated_at - message.ts >= CHANGE_SHOWN_AFTER and not (
        message.edited_at is not None
        or message.thread_last_reply == message.updated_at
        or message.reactions
        or message.pinned
    ):
        out.append(f"changed {_clock(message.updated_at)}")
    return out


def _file(file: FileRef) -> str:
    size = f", {_size(file.size)}" if file.size is not None else ""
    kind = f" ({clean(file.type, 60)}{size})" if file.type else (f" ({_size(file.size)})" if file.size else "")
    caption = f": {clean(file.description, ATTACHMENT_TEXT_LIMIT)}" if file.description else ""
    return f"file {clean(file.name, 120)}{kind}{caption}"


def _attachment(attachment: Attachment) -> str:
    if attachment.quoted_message_id:
        return f"quotes {clean(attachment.quoted_message_id, 40)}"
    title = f' "{clean(attachment.title, 80)}"' if attachment.title else ""
    text = f": {clean(attachment.text, ATTACHMENT_TEXT_LIMIT)}" if attachment.text else ""
    fields = "".join(
        f"; {clean(f.title, FIELD_LIMIT)}: {clean(f.value, FIELD_LIMIT)}"
        if f.title
        else f"; {clean(f.value, FIELD_LIMIT)}"
        for f in attachment.fields
    )
    return f"attachment{title}{text}{fields}"


def _reaction(reaction: Reaction) -> str:
    """``:tada: bob, carol``; past three names ``:+1: a, b, c +2``; the count alone when nobody is named."""
    emoji = clean(reaction.emoji, 40)
    if not reaction.usernames:
        return f"{emoji} ?"
    who = ", ".join(clean(name, 40) for name in reaction.usernames[:REACTORS_SHOWN])
    more = len(reaction.usernames) - REACTORS_SHOWN
    return f"{emoji} {who}" + (f" +{more}" if more > 0 else "")


def _size(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:g} {unit}" if unit == "B" else f"{size:.0f} {unit}"
        size //= 1024
    return f"{size} GB"


def _clock(moment: datetime | None) -> str:
    # What strftime("%H:%M:%S") writes, five times faster: one of these per line and per marker time.
    return moment.time().isoformat("seconds") if moment else "?"
