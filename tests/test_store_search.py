"""Search over the local history: what is indexed, ranking, the query language, accounts, and the
index kept in step with the messages through upserts, deletions, prunes, VACUUM and migration 1 → 2."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rc_mcp import store as store_module
from rc_mcp.models import Attachment, AttachmentField, Deletion, FileRef, Message
from rc_mcp.store import SCHEMA_VERSION, MessageStore, SearchHit, SearchSpan, StoreError
from rc_mcp.times import to_ms
from tests.test_store import VERSION_0

T = datetime(2026, 11, 20, 9, tzinfo=UTC)
ACCOUNT = "https://chat|u1"
OTHER = "https://chat|u2"


def message(msg_id: str, text: str = "hello", **fields: object) -> Message:
    base: dict[str, object] = {"id": msg_id, "room_id": "R", "author": "alice", "text": text, "ts": T, "updated_at": T}
    return Message.model_validate({**base, **fields})


def path_in(tmp_path: Path) -> Path:
    return tmp_path / "state" / "rc-mcp.sqlite3"


def opened(tmp_path: Path, account: str = ACCOUNT, **caps: int) -> MessageStore:
    return MessageStore(
        path_in(tmp_path),
        account,
        max_messages=caps.get("max_messages", 1000),
        max_age_days=caps.get("max_age_days", 30),
    )


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.message.id for hit in hits]


def index_is_consistent(store: MessageStore) -> bool:
    """FTS5's own check of the index against the messages table (raises when they disagree)."""
    store._db.execute("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 1)")
    return True


# --- what is indexed ------------------------------------------------------------------------------------

EVERYTHING = message(
    "full",
    "textword in the body",
    author="authorword",
    author_name="Displayword Person",
    alias="Aliasword Bot",
    attachments=[
        Attachment(
            title="Attachtitleword",
            text="attachtextword quoted",
            fields=[AttachmentField(title="Fieldtitleword", value="fieldvalueword")],
        )
    ],
    files=[FileRef(name="filenameword-2026.pdf", description="Captionword of the upload")],
)


@pytest.mark.parametrize(
    "query",
    [
        "textword",
        "authorword",
        "displayword",
        "aliasword",
        "attachtitleword",
        "attachtextword",
        "fieldtitleword",
        "fieldvalueword",
        "filenameword",
        "filenameword-2026.pdf",
        "captionword",
    ],
)
def test_each_indexed_field_is_found(tmp_path: Path, query: str) -> None:
    store = opened(tmp_path)
    store.record([EVERYTHING, message("plain", "nothing special", author="bob")])
    hits = store.search(query)
    assert ids(hits) == ["full"]
    assert hits[0].message == EVERYTHING and hits[0].deleted_at is None
    store.close()


def test_encrypted_text_is_not_indexed_but_its_author_is(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("e2e", "c2VjcmV0Y2lwaGVydGV4dA", encrypted=True, author="carol")])
    assert store.search("c2VjcmV0Y2lwaGVydGV4dA") == []
    assert ids(store.search("carol")) == ["e2e"]
    store.close()


def test_deleted_messages_are_found_and_marked(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("gone", "the launch codes are 1234"), message("kept", "the launch is tomorrow")])
    deleted_at = T + timedelta(minutes=5)
    store.record(deletions=[Deletion(id="gone", deleted_at=deleted_at)])
    hits = {hit.message.id: hit for hit in store.search("launch")}
    assert hits["gone"].deleted_at == to_ms(deleted_at)
    assert hits["gone"].message.text == "the launch codes are 1234"  # what it said before it went
    assert hits["kept"].deleted_at is None
    assert ids(store.search("codes")) == ["gone"]
    store.close()


# --- ranking ------------------------------------------------------------------------------------------


def test_more_occurrences_of_the_words_rank_first(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record(
        [
            message("once", "deploy went out with the batch"),
            message("thrice", "deploy deploy deploy the batch"),
            message("twice", "deploy deploy went the batch"),
        ]
    )
    assert ids(store.search("deploy")) == ["thrice", "twice", "once"]
    store.close()


def test_rarer_words_weigh_more(tmp_path: Path) -> None:
    # "deploy" is everywhere, "outage" rare: the message with more of the rare word wins, though both
    # have three matching words in four.
    store = opened(tmp_path)
    store.record([message(f"noise{i}", f"deploy number {i} done") for i in range(20)])
    store.record(
        [
            message("common", "deploy deploy outage now"),
            message("rare", "deploy outage outage now"),
        ]
    )
    assert ids(store.search("deploy outage")) == ["rare", "common"]
    store.close()


def test_shorter_messages_with_the_same_words_rank_first(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record(
        [
            message("long", "deploy " + " ".join(f"filler{i}" for i in range(30))),
            message("short", "deploy done"),
        ]
    )
    assert ids(store.search("deploy")) == ["short", "long"]
    store.close()


def test_equal_ranks_newest_first(tmp_path: Path) -> None:
    store = opened(tmp_path)
    # Stored in an order that is neither oldest nor newest first.
    for msg_id, minutes in (("middle", 5), ("newest", 9), ("oldest", 1)):
        store.record([message(msg_id, "standup notes", updated_at=T + timedelta(minutes=minutes))])
    assert ids(store.search("standup")) == ["newest", "middle", "oldest"]
    store.close()


# --- the query language -------------------------------------------------------------------------------


def test_phrases_and_words(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("phrase", "the build failed again"), message("words", "failed to build it")])
    assert sorted(ids(store.search("build failed"))) == ["phrase", "words"]  # every word, anywhere
    assert ids(store.search('"build failed"')) == ["phrase"]  # the words together, in order
    assert ids(store.search('"failed to" build')) == ["words"]
    assert store.search("build failed missing") == []  # every word must match
    store.close()


def test_case_accents_and_width_are_ignored(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("fr", "Réunion au Café à l'école"), message("plain", "meeting at the cafe")])
    assert sorted(ids(store.search("cafe"))) == ["fr", "plain"]
    assert sorted(ids(store.search("CAFÉ"))) == ["fr", "plain"]
    assert ids(store.search("reunion ECOLE")) == ["fr"]
    assert ids(store.search("e\u0301cole")) == ["fr"]  # a combining accent, as some keyboards send it
    assert ids(store.search("ｍｅｅｔｉｎｇ")) == ["plain"]  # full-width letters
    store.close()


HOSTILE = [
    "AND",
    "OR",
    "NOT",
    "deploy AND",
    "OR deploy",
    "NOT deploy",
    "deploy NOT failed",
    "NEAR(deploy failed)",
    "NEAR(deploy failed, 2)",
    "NEAR/3",
    "deploy*",
    "* deploy",
    "^deploy",
    "search_text:deploy",
    "search_people : alice",
    "{search_text search_more}: deploy",
    "-deploy",
    "+deploy",
    "(deploy",
    "deploy)",
    "((deploy OR failed) AND NOT x)",
    '"deploy',
    'deploy"',
    '"deploy""failed"',
    '"unbalanced "quotes" everywhere',
    "'single quotes'",
    "back\\slash \\",
    "semi;colon -- DROP TABLE messages;",
    "deploy\x00failed",
    "\x00deploy",
    "bad \ud800 surrogate deploy",
    "tab\tand\nnewline deploy",
    "日本語のテキスト",
    "עברית deploy \u200f",
    "emoji 😀 deploy",
    "zero\u200bwidth",
    "rank bm25 rowid",
    "message_search MATCH deploy",
    "%_ LIKE deploy",
    "deploy " * 2000,
    "x" * 10_000,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(tmp_path: Path, query: str) -> None:
    store = opened(tmp_path)
    store.record([message("a", "deploy failed"), message("b", "do NOT deploy NEAR the end")])
    hits = store.search(query)
    assert all(isinstance(hit, SearchHit) for hit in hits)
    store.close()


@pytest.mark.parametrize(
    "query", ["", "   ", "\n\t", '""', '"" ""', '"', "*", "()", "- + * : ^", "😀", "\u0301", "\x00", "\ud800"]
)
def test_a_query_without_words_is_a_value_error(tmp_path: Path, query: str) -> None:
    store = opened(tmp_path)
    with pytest.raises(ValueError, match="no words"):
        store.search(query)
    store.close()


def test_any_text_is_a_query_or_a_value_error(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("a", "deploy failed"), message("b", "do NOT deploy NEAR the end")])

    @settings(max_examples=400, deadline=None)
    @given(st.text(max_size=60) | st.lists(st.sampled_from([*HOSTILE[:30], '"', "*", "(", ")", ":"])).map(" ".join))
    def check(query: str) -> None:
        try:
            hits = store.search(query)
        except ValueError as exc:
            assert str(exc) == "the search query has no words to look for"
        else:
            assert set(ids(hits)) <= {"a", "b"}

    check()
    store.close()


def test_every_word_of_a_message_finds_it(tmp_path: Path) -> None:
    # Whatever the text (any script, symbols, marks, odd spaces), a query of its own words finds it:
    # the query is cut into words as the index cuts the text, or it says it has no words.
    store = opened(tmp_path)
    counter = iter(range(1_000_000))

    @settings(max_examples=300, deadline=None)
    @given(st.text(min_size=1, max_size=40).map(lambda text: text.replace('"', " ")), st.data())
    def check(text: str, data: st.DataObject) -> None:
        msg_id = f"m{next(counter)}"
        store.record([message(msg_id, text)])
        words = text.split()
        query = " ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=3))) if words else text
        try:
            hits = store.search(query, limit=1000)
        except ValueError:
            return
        assert msg_id in ids(hits), (text, query)

    check()
    assert index_is_consistent(store)
    store.close()


def sqlite_sees_a_word(text: str) -> bool:
    """The unicode61 tokenizer's own verdict, asked of a table of its own."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.execute("INSERT INTO t (x) VALUES (?)", (text,))
    found = db.execute("SELECT count(*) FROM v").fetchone()[0] > 0
    db.close()
    return bool(found)


# Characters on which Python's Unicode tables and SQLite's (older) disagree, at least with SQLite 3.40:
# 🌡 (Unicode 7) is a symbol to Python but a word to SQLite; U+19B0 (a New Tai Lue vowel) a letter to
# Python but not to SQLite. 😀 is a word to neither.
@pytest.mark.parametrize("char", ["🌡", "\u19b0", "😀"])
def test_words_are_what_the_index_counts_as_words(tmp_path: Path, char: str) -> None:
    store = opened(tmp_path)
    store.record([message("char", f"{char} deploy"), message("other", "deploy again")])
    if sqlite_sees_a_word(char):
        assert ids(store.search(char)) == ["char"]
        assert ids(store.search(f"{char} deploy")) == ["char"]
    else:
        with pytest.raises(ValueError):
            store.search(char)
        assert sorted(ids(store.search(f"{char} deploy"))) == ["char", "other"]  # left out, not required
    store.close()


def test_operators_are_plain_words(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record(
        [
            message("not", "do NOT deploy"),
            message("deploy", "deploy"),
            message("near", "NEAR(alpha beta)"),
            message("prefix", "alphabet soup"),
            message("alpha", "alpha release"),
            message("column", "set search_text: yes"),
        ]
    )
    assert ids(store.search("NOT deploy")) == ["not"]  # NOT is a word the message must have
    assert ids(store.search("deploy OR nothing")) == []  # OR too
    assert ids(store.search("NEAR(alpha beta)")) == ["near"]
    assert ids(store.search("alpha*")) == ["alpha", "near"]  # no prefix search: "alphabet" is another word
    assert ids(store.search("search_text:yes")) == ["column"]  # not a column filter
    assert ids(store.search('"do NOT')) == ["not"]  # an unbalanced quote is plain text
    store.close()


def test_limit_offset_and_room(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record(
        [message(f"m{i}", "release notes", updated_at=T + timedelta(minutes=i)) for i in range(5)]
        + [message("elsewhere", "release notes", room_id="OTHER", updated_at=T + timedelta(minutes=9))]
    )
    assert ids(store.search("release", limit=2)) == ["elsewhere", "m4"]
    assert ids(store.search("release", limit=2, offset=2)) == ["m3", "m2"]
    assert ids(store.search("release", offset=10)) == []
    assert ids(store.search("release", room_id="R")) == ["m4", "m3", "m2", "m1", "m0"]
    assert ids(store.search("release", room_id="OTHER")) == ["elsewhere"]
    assert store.search("release", room_id="nowhere") == []
    for bad in ({"limit": 0}, {"limit": -1}, {"offset": -1}):
        with pytest.raises(ValueError, match="limit"):
            store.search("release", **bad)
    store.close()


# --- accounts -----------------------------------------------------------------------------------------


def test_another_accounts_rows_are_never_returned(tmp_path: Path) -> None:
    mine = opened(tmp_path)
    theirs = opened(tmp_path, OTHER)
    mine.record([message("shared-id", "quarterly budget draft"), message("mine", "budget for me")])
    theirs.record([message("shared-id", "secret budget numbers"), message("theirs", "budget for them")])
    theirs.remember_room("THEIRS", "their-room")
    theirs.record([message("their-room-msg", "budget", room_id="THEIRS")])
    assert sorted(ids(mine.search("budget"))) == ["mine", "shared-id"]
    assert mine.search("secret") == [] and mine.search("them") == []
    assert mine.search("budget", room_id="THEIRS") == []
    assert [hit.message.text for hit in mine.search("budget") if hit.message.id == "shared-id"] == [
        "quarterly budget draft"
    ]
    assert sorted(ids(theirs.search("budget"))) == ["shared-id", "their-room-msg", "theirs"]
    span = mine.search_span()
    assert (span.messages, span.rooms) == (2, {"R": None})
    theirs.close()
    mine.close()


# --- the index follows the messages --------------------------------------------------------------------


def test_an_update_replaces_the_old_text(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("a", "meet at noon"), message("b", "noon is fine")])
    store.record([message("a", "meet at three", updated_at=T + timedelta(minutes=1))])
    assert ids(store.search("noon")) == ["b"]  # the old words no longer find it
    assert ids(store.search("three")) == ["a"]
    store.record([message("a", "meet at three", updated_at=T + timedelta(minutes=1))])  # seen again, unchanged
    store.record(deletions=[Deletion(id="b", deleted_at=T)])  # a deletion marks, it does not unindex
    assert ids(store.search("three")) == ["a"] and ids(store.search("noon")) == ["b"]
    assert index_is_consistent(store)
    store.close()


def test_pruning_removes_hits(tmp_path: Path) -> None:
    store = opened(tmp_path, max_messages=3)
    for i in range(5):
        store.record([message(f"m{i}", f"rollout step{i}")])
        time.sleep(0.002)
    store.prune()  # the size cap keeps the three most recently seen
    assert sorted(ids(store.search("rollout"))) == ["m2", "m3", "m4"]
    assert store.search("step0") == []
    store._db.execute("UPDATE messages SET seen_at = 0 WHERE id = 'm2'")  # seen in 1970
    store.prune()  # the age cap
    assert sorted(ids(store.search("rollout"))) == ["m3", "m4"]
    assert index_is_consistent(store)
    assert store._db.execute("SELECT count(*) FROM message_search").fetchone()[0] == 2
    store.close()


def test_vacuum_keeps_the_index_pointing_at_the_right_rows(tmp_path: Path) -> None:
    # The index refers to rows by rowid: an implicit rowid may be renumbered by VACUUM, seq may not.
    store = opened(tmp_path)
    store.record([message(f"m{i}", f"word{i} common") for i in range(10)])
    store._db.execute("DELETE FROM messages WHERE id IN ('m0', 'm3', 'm5')")
    store._db.execute("VACUUM")
    for i in (1, 2, 4, 6, 7, 8, 9):
        assert ids(store.search(f"word{i}")) == [f"m{i}"]
    assert store.search("word3") == []
    assert len(store.search("common")) == 7
    assert index_is_consistent(store)
    store.close()


def test_search_survives_reopening(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.record([message("a", "persisted words")])
    store.close()
    again = opened(tmp_path)
    assert ids(again.search("persisted")) == ["a"]
    again.close()


# --- what a search looks through ------------------------------------------------------------------------


def test_search_span(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert store.search_span() == SearchSpan(messages=0, oldest_seen_at=None, rooms={})
    store.remember_room("R", "general")
    before = int(time.time() * 1000)
    store.record([message("a"), message("b", room_id="R2")])
    store.record([message("c", room_id="R3")], [Deletion(id="a", deleted_at=T)])
    after = int(time.time() * 1000)
    span = store.search_span()
    assert span.messages == 3  # the deleted one is searched too
    assert span.oldest_seen_at is not None and before <= span.oldest_seen_at <= after
    assert span.rooms == {"R": "general", "R2": None, "R3": None}
    store.close()


def test_search_span_follows_writes_from_this_connection_and_others(tmp_path: Path) -> None:
    store, other = opened(tmp_path), opened(tmp_path)  # another rc-mcp process on the same file
    store.record([message("a")])
    assert store.search_span().messages == store.search_span().messages == 1
    other.record([message("b", room_id="R2")])
    assert store.search_span().messages == 2
    store.remember_room("R2", "random")
    assert store.search_span().rooms == {"R": None, "R2": "random"}
    other.prune()  # a write that changes nothing still counts as one: the span is read again, same
    assert store.search_span().messages == 2
    store.close()
    other.close()


# --- migration 1 → 2 -------------------------------------------------------------------------------------

# The schema at version 1: the unversioned tables, stamped (migration 0 → 1 only stamps them).
VERSION_1 = VERSION_0 + "PRAGMA user_version = 1;\n"

V1_MESSAGES = [
    (ACCOUNT, EVERYTHING, None),
    (ACCOUNT, message("deleted", "recalled migration words", room_id="R2"), 1_700_000_000_000),
    (ACCOUNT, message("edited", "plain migration words", updated_at=T + timedelta(hours=1)), None),
    (OTHER, message("other", "migration words of another account"), None),
]


def version_1_file(tmp_path: Path) -> tuple[Path, list[tuple[object, ...]]]:
    """A file as rc-mcp at schema 1 left it (WAL), with messages of two accounts (one deleted, one
    whose body no longer parses), a checkpoint, a pending item and a room name; and its message rows."""
    path = path_in(tmp_path)
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(VERSION_1)
    now = int(time.time() * 1000)
    for n, (account, msg, deleted_at) in enumerate(V1_MESSAGES):
        db.execute(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                account,
                msg.id,
                msg.room_id,
                to_ms(msg.updated_at),
                deleted_at,
                msg.model_dump_json(exclude={"change"}),
                now - n,
            ),
        )
    db.execute(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ACCOUNT, "unreadable", "R", 1, None, '{"not": "a message", "text": "migration"}', now),
    )
    db.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (ACCOUNT, "R", "cp", 10, 5, None, 3, now))
    pending = message("p1", "waiting migration").model_dump_json(exclude={"change"})
    db.execute("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?)", (ACCOUNT, "R", "cp", "updated", 0, pending))
    db.execute("INSERT INTO rooms VALUES (?, ?, ?)", (ACCOUNT, "R", "general"))
    db.commit()
    rows = db.execute("SELECT * FROM messages ORDER BY account, id").fetchall()
    db.close()
    return path, rows


def test_migration_1_to_2_keeps_every_row_and_makes_it_searchable(tmp_path: Path) -> None:
    _, v1_rows = version_1_file(tmp_path)
    store = opened(tmp_path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    columns = "account, id, room_id, updated_at, deleted_at, body, seen_at"
    assert store._db.execute(f"SELECT {columns} FROM messages ORDER BY account, id").fetchall() == v1_rows
    checkpoint = store.checkpoint("R", "cp")
    assert checkpoint is not None and (checkpoint.updated_after, checkpoint.deleted_after, checkpoint.version) == (
        10,
        5,
        3,
    )
    assert [m.text for m in store.pending("R", "cp")[0]] == ["waiting migration"]
    assert store.room_name("R") == "general"
    # Searchable, by every field, deleted ones marked; the other account's row stays theirs; the row
    # that no longer parses is kept (it is in the count) but not findable.
    assert ids(store.search("captionword")) == ["full"] and ids(store.search("displayword")) == ["full"]
    hits = store.search("migration words")
    assert ids(hits) == ["edited", "deleted"]  # same rank: newest first
    assert hits[1].deleted_at == 1_700_000_000_000 and hits[0].deleted_at is None
    assert store.search("another") == []
    span = store.search_span()
    assert (span.messages, span.rooms) == (4, {"R": "general", "R2": None})
    assert store.count() == 5
    assert index_is_consistent(store)
    # Written after the migration: indexed by the triggers.
    store.record([message("new", "post migration words")])
    assert ids(store.search('"post migration"')) == ["new"]
    store.close()
    theirs = opened(tmp_path, OTHER)
    assert ids(theirs.search("migration")) == ["other"]
    theirs.close()


def test_a_failed_migration_1_to_2_leaves_the_version_1_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, v1_rows = version_1_file(tmp_path)
    step = store_module._MIGRATIONS[1]
    broken = (store_module._MIGRATIONS[0], (*step, "THIS IS NOT SQL"))  # fails after everything else ran
    monkeypatch.setattr(store_module, "_MIGRATIONS", broken)
    with pytest.raises(StoreError, match="cannot be used"):
        opened(tmp_path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT * FROM messages ORDER BY account, id").fetchall() == v1_rows
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert tables == {"messages", "messages_seen", "checkpoints", "pending", "rooms"} | {
            f"sqlite_autoindex_{t}_1" for t in ("messages", "checkpoints", "pending", "rooms")
        }
    db.close()
    monkeypatch.undo()
    store = opened(tmp_path)
    assert ids(store.search("recalled")) == ["deleted"]
    store.close()


# --- without FTS5 ---------------------------------------------------------------------------------------


def test_without_fts5_the_history_works_and_search_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_fts5_available", lambda: False)
    store = opened(tmp_path)
    store.record([message("a", "written without an index")])
    assert store.known(["a"])["a"].text == "written without an index"
    for search in (lambda: store.search("index"), store.search_span):
        with pytest.raises(StoreError, match=r"^local history cannot be searched: .*no full-text search \(FTS5\)$"):
            search()
    with pytest.raises(ValueError):  # a query without words is still the caller's mistake first
        store.search("")
    store.close()
    monkeypatch.undo()  # the next run has FTS5: the index is built from what was written meanwhile
    again = opened(tmp_path)
    assert ids(again.search("index")) == ["a"]
    assert index_is_consistent(again)
    again.close()


def test_a_file_indexed_elsewhere_opened_without_fts5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its triggers would make every write fail without FTS5: they go, and come back with a full rebuild.
    store = opened(tmp_path)
    store.record([message("a", "before the switch")])
    store.close()
    monkeypatch.setattr(store_module, "_fts5_available", lambda: False)
    without = opened(tmp_path)
    triggers = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
    assert without._db.execute(triggers).fetchone()[0] == 0
    without.record([message("b", "during the switch")], [Deletion(id="a", deleted_at=T)])
    without.record([message("a", "before the switch, edited")])
    without.close()
    monkeypatch.undo()
    again = opened(tmp_path)
    assert again._db.execute(triggers).fetchone()[0] == 3
    assert sorted(ids(again.search("switch"))) == ["a", "b"]
    assert ids(again.search("edited")) == ["a"]
    assert index_is_consistent(again)
    again.close()


def test_a_failing_search_does_not_quote_the_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = opened(tmp_path)
    monkeypatch.setattr(store_module, "_match_expression", lambda query: '"secretword" AND (')
    with pytest.raises(StoreError) as caught:
        store.search("secretword")
    assert str(caught.value) == "local history could not be searched: the search index could not run the query"
    store.close()
