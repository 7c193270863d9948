"""What kind of change an entry in ``updated`` is, judged against the copy shown before (pure).

An entry in the endpoint's ``updated`` list only means *something* stamped ``_updatedAt``: a new
message, an edit, a reaction, thread activity, a pin, a deletion placeholder (reference §4.3).
"""

from __future__ import annotations

from rc_mcp.models import Change, ChangeKind, Message

DIFF_LIMIT = 300


def classify(before: Message | None, now: Message) -> Change:
    """The kinds of change from ``before`` (None: never seen) to ``now``."""
    if before is None:
        return Change(kinds=["new"])
    kinds: list[ChangeKind] = []
    diff = None
    if now.type == "rm" and before.type != "rm":
        kinds.append("removed")
    elif now.text != before.text:
        kinds.append("edited")
        diff = word_diff(before.text, now.text)
    if _reactions(now) != _reactions(before):
        kinds.append("reactions")
    if (now.thread_reply_count, now.thread_last_reply) != (before.thread_reply_count, before.thread_last_reply):
        kinds.append("thread")
    if now.pinned != before.pinned:
        kinds.append("pinned" if now.pinned else "unpinned")
    if not kinds:
        kinds.append("unchanged" if now.updated_at == before.updated_at else "other")
    return Change(kinds=kinds, diff=diff)


def word_diff(old: str, new: str, limit: int = DIFF_LIMIT) -> str:
    """A compact word diff: ``-"removed words"``, ``+"added words"``, ``"old" → "new"`` for replacements."""
    import difflib  # only for edits: kept out of start-up

    a, b = old.split(), new.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        removed, added = " ".join(a[i1:i2]), " ".join(b[j1:j2])
        if op == "replace":
            parts.append(f'"{removed}" → "{added}"')
        elif op == "delete":
            parts.append(f'-"{removed}"')
        elif op == "insert":
            parts.append(f'+"{added}"')
    text = ", ".join(parts) or "whitespace only"
    return text if len(text) <= limit else text[:limit] + "…"


def _reactions(message: Message) -> dict[str, list[str]]:
    return {r.emoji: sorted(r.usernames) for r in message.reactions}
