"""The output budget: an answer's text stays within max_chars, recalled deletions and edit diffs
included (the history adds them after the server's answer is read), and nothing the budget leaves
out is lost: it comes with the next call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rc_mcp.emulator.workspace import iso_ms
from rc_mcp.models import Change, Deletion, Message
from rc_mcp.render import render
from rc_mcp.results import FRAME_CHARS, Budget, CatchUp, WorkspaceCatchUp, estimate_chars
from rc_mcp.rules import CatchUpArguments, DeletedArguments, UpdatedArguments, parse
from rc_mcp.session import Session
from tests.conftest import T0, Harness

pytestmark = pytest.mark.anyio
SINCE = iso_ms(T0)
BUDGET = 24_000
# About 1,350 characters: a recalled deletion of one is a long line, and an edit of one a long diff.
LONG = "the quick brown fox jumps over the lazy dog " * 30


async def follow(session: Session, tool: str, **arguments: Any) -> list[Any]:
    """Every answer of a tool until it says "end", each checked against its budget."""
    call = {
        "catch_up": (session.catch_up, CatchUpArguments),
        "sync_messages": (session.sync_messages, UpdatedArguments),
        "list_deleted": (session.list_deleted, DeletedArguments),
    }
    method, model = call[tool]
    answers = []
    while True:
        answer = await method(parse(model, arguments))  # type: ignore[operator]
        text = render(answer)
        assert len(text) <= arguments.get("max_chars", BUDGET), f"answer {len(answers) + 1}: {len(text)} chars"
        answers.append(answer)
        if answer.continuation is None:
            return answers
        arguments = dict(answer.continuation)
        assert len(answers) < 100


def shown(answers: list[Any]) -> tuple[list[Message], list[Deletion]]:
    def parts(answer: Any) -> list[Any]:
        return answer.sections if isinstance(answer, WorkspaceCatchUp) else [answer]

    messages = [m for a in answers for p in parts(a) for m in p.messages]
    deleted = [d for a in answers for p in parts(a) for d in p.deleted]
    return messages, deleted


async def seen_then_changed(harness: Harness, rooms: list[str]) -> tuple[Session, list[str], list[str]]:
    """40 long messages per room that rc-mcp has shown, then 25 of each deleted and 10 edited."""
    ws = harness.workspace
    posted = {room: [ws.post(room, "admin", f"{i} {LONG}", at=T0 + 1 + i) for i in range(40)] for room in rooms}
    session = harness.session()
    for room in rooms:
        await follow(session, "catch_up", room_id=room, since=SINCE, max_items=1000, max_chars=200_000)
    gone = [msg for room in rooms for msg in posted[room][:25]]
    edited = [msg for room in rooms for msg in posted[room][25:35]]
    for i, msg in enumerate(gone):
        ws.delete(msg, at=T0 + 10_000 + i)
    for i, msg in enumerate(edited):
        ws.edit(msg, f"{i} {LONG.upper()}", at=T0 + 20_000 + i)  # every word changes: a diff of 400 chars
    return session, gone, edited


async def test_a_room_catch_up_stays_within_max_chars_with_recalled_deletions_and_edits(harness: Harness) -> None:
    session, gone, edited = await seen_then_changed(harness, [harness.room])
    answers = await follow(session, "catch_up", room_id=harness.room, max_chars=BUDGET)
    messages, deleted = shown(answers)
    assert sorted(m.id for m in messages) == sorted(edited) and all(m.change and m.change.diff for m in messages)
    assert sorted(d.id for d in deleted) == sorted(gone) and all(d.recalled for d in deleted)
    assert len(answers) > 1  # the budget did cut: about 1,800 characters a line, 24,000 an answer


async def test_list_deleted_and_sync_messages_stay_within_max_chars(harness: Harness) -> None:
    session, gone, edited = await seen_then_changed(harness, [harness.room])
    pages = await follow(session, "list_deleted", room_id=harness.room, last_update=SINCE, count=50, max_chars=BUDGET)
    _, deleted = shown(pages)
    assert sorted(d.id for d in deleted) == sorted(gone) and all(d.recalled for d in deleted) and len(pages) > 1
    since = iso_ms(T0 + 19_000)
    pages = await follow(session, "sync_messages", room_id=harness.room, last_update=since, max_chars=BUDGET)
    messages, _ = shown(pages)
    assert sorted(m.id for m in messages) == sorted(edited) and all(m.change and m.change.diff for m in messages)


async def test_a_workspace_catch_up_stays_within_max_chars(harness: Harness) -> None:
    ws = harness.workspace
    rooms = [ws.add_room(name, members=["user"], at=T0).id for name in ("ops", "dev", "sales")]
    session, gone, edited = await seen_then_changed(harness, rooms)
    answers = await follow(session, "catch_up", since=SINCE, max_chars=BUDGET)
    messages, deleted = shown(answers)
    assert sorted(d.id for d in deleted) == sorted(gone) and all(d.recalled for d in deleted)
    # The first look also shows the rooms' earlier messages: the edited ones are among them once.
    assert sorted(m.id for m in messages if m.change and m.change.diff) == sorted(edited)
    assert len({m.id for m in messages}) == len(messages)


# --- estimate and rendering agree, whatever the items ------------------------------------------

WHEN = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
texts = st.text(st.characters(codec="utf-8"), max_size=2_000)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    at = WHEN + timedelta(minutes=draw(st.integers(0, 3_000)))
    doc: dict[str, Any] = {
        "_id": f"M{draw(st.integers(0, 10**6))}",
        "msg": draw(texts),
        "ts": iso_ms(int(at.timestamp() * 1000)),
        "u": {"_id": "U", "username": draw(st.text(min_size=1, max_size=90))},
        "alias": draw(st.none() | st.text(max_size=90)),
        "reactions": {f":e{i}:": {"usernames": draw(st.lists(st.text(max_size=45), max_size=6))} for i in range(3)},
        "attachments": [
            {
                "title": draw(st.text(max_size=100)),
                "text": draw(texts),
                "fields": [{"title": draw(texts), "value": draw(texts)} for _ in range(draw(st.integers(0, 3)))],
            }
        ],
        "file": {"name": draw(st.text(min_size=1, max_size=150)), "type": "image/png", "size": 2048},
    }
    message = Message.from_wire(doc)
    assert message is not None
    diff = draw(st.none() | texts)
    return message.model_copy(update={"change": Change(kinds=["edited", "reactions"], diff=diff)})


@st.composite
def deletions(draw: st.DrawFn) -> Deletion:
    recalled = draw(st.none() | messages())
    return Deletion(id=f"D{draw(st.integers(0, 10**6))}", deleted_at=WHEN, seen_before=True, recalled=recalled)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    items=st.lists(messages(), max_size=30), gone=st.lists(deletions(), max_size=30), chars=st.integers(1_000, 40_000)
)
def test_an_answer_cut_by_the_budget_fits_in_it(items: list[Message], gone: list[Deletion], chars: int) -> None:
    """Cut as catch_up cuts (a header and footer set aside, then the changed messages, then the
    deletions in what is left), the text stays within max_chars unless its very first item alone
    does not fit (an answer always shows at least one item)."""
    budget = Budget(1000, chars).reserve(FRAME_CHARS)
    updated = items[: budget.fit(items)]
    deleted = gone[: budget.after(updated).fit(gone)]
    answer = CatchUp(
        room_id="GENERAL",
        room_name="general",
        checkpoint="default",
        since=WHEN,
        messages=updated,
        deleted=deleted,
        caught_up=False,
        continuation={"room_id": "GENERAL", "checkpoint": "default", "max_chars": chars},
    )
    first = [*updated, *deleted][:1]
    if first and estimate_chars(first[0]) > budget.max_chars:
        return
    assert len(render(answer)) <= chars


def test_the_estimate_counts_what_the_history_adds() -> None:
    recalled = Message.from_wire({"_id": "M1", "msg": LONG, "ts": iso_ms(T0), "u": {"username": "alice"}})
    assert recalled is not None
    plain = Deletion(id="D1", deleted_at=WHEN)
    assert estimate_chars(plain.model_copy(update={"recalled": recalled})) > estimate_chars(plain) + len(LONG)
    diff = Change(kinds=["edited"], diff="x" * 1_000)
    assert estimate_chars(recalled.model_copy(update={"change": diff})) > estimate_chars(recalled) + 400
