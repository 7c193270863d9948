"""Reading ``chat.syncMessages`` losslessly, politely and within a deadline.

A ``Pager`` does the requests of one tool call. It

* paces them on the server's ``X-RateLimit-*`` headers (waiting for a reset when that fits the
  call, reporting progress while it waits, and otherwise stopping with what it has);
* keeps the whole call within its deadline and a bounded number of requests;
* reads pages that never end inside a millisecond: the server pages with strict ``$gt``/``$lt``
  bounds on millisecond timestamps and no tie-breaker, so the trailing millisecond is held back
  (or the page grows when one millisecond holds more items than asked for);
* reads the trash whole before paging it, because the server sorts trash pages by one field and
  bounds them by another (reference §4.2);
* serves servers before 7.1, which know only ``lastUpdate``, with the same results;
* drops items that are not messages (no id, no valid time, a time past the server's clock) and
  counts them, so they are never shown and never move a position.

``ServerState`` is what outlives one call on a server: its version, its rate-limit window and its
clock. ``Kept`` holds, per account, the rows a call fetched but had no room to show.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from rc_mcp.client import RateLimit, RocketChatClient, SyncQuery, SyncResponse, SyncType
from rc_mcp.errors import RateLimited, RequestRejected, RocketChatError, UnexpectedResponse
from rc_mcp.models import Deletion, Item, Message, Stream, stamp_ms
from rc_mcp.results import CutShort
from rc_mcp.times import from_ms

Progress = Callable[[float, float | None, str | None], Awaitable[None]]

# A page is asked for with this many extra rows, so that holding back a trailing millisecond
# rarely leaves it short.
SLACK = 10
# Growth of one request's count when a millisecond or the trash does not fit, and its ceiling.
GROWTH = 4
MAX_PAGE = 100_000
# Trash records are small ({_id, _deletedAt}), and a whole read is the only safe one.
DELETED_FIRST_PAGE = 1000
MAX_REQUESTS_PER_CALL = 30
# A server that refuses again right after every reset it named is not pacing, it is stuck.
MAX_REFUSALS_PER_CALL = 3
# The progress step that says a wait begins (every report must move progress forward).
NOTICE_STEP = 0.01
# Positions never pass the server's own clock by more than this.
CLOCK_SKEW_MS = 5 * 60 * 1000
# How long rows fetched but not shown are kept for the call that continues from them.
REMAINDER_TTL_MS = 5 * 60 * 1000
REMAINDER_ENTRIES = 64
# Cursors arrived in Rocket.Chat 7.1.0 (PR #33810); before it the route knows only lastUpdate.
CURSORS_SINCE = (7, 1)
# How far back a backward read on an old server looks first, and how that grows.
LEGACY_BACK_FIRST_MS = 24 * 3600 * 1000
LEGACY_BACK_GROWTH = 8


class Clock(Protocol):
    """Time as a call sees it; tests pass one that advances only when something sleeps."""

    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @property
    def has_cursors(self) -> bool:
        return (self.major, self.minor) >= CURSORS_SINCE

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


# What a server that refuses cursors (error-lastUpdate-param-not-provided) is taken to be.
LEGACY = Version(7, 0)


def parse_version(text: object) -> Version | None:
    match = re.match(r"^\s*(\d{1,3})\.(\d{1,3})", text) if isinstance(text, str) else None
    return Version(int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class _Remainder:
    rows: list[Item]
    complete: bool
    stored_at: int


@dataclass
class ServerState:
    """What rc-mcp knows of one server across calls: its version, its rate-limit window (shared by
    every account this process serves from one address, as the server counts per address) and its clock."""

    clock: Clock = field(default_factory=SystemClock)
    version: Version | None = None
    version_known: bool = False
    window: RateLimit | None = None
    # Server time minus local time, from the last Date header: the reset header is in server time.
    clock_offset_ms: int = 0
    _version_lock: anyio.Lock = field(default_factory=anyio.Lock)

    def server_now_ms(self) -> int:
        return self.clock.now_ms() + self.clock_offset_ms


@dataclass
class Kept:
    """Rows one account's call fetched but had no room to show, for the call that continues from them."""

    clock: Clock
    _rows: OrderedDict[tuple[str, Stream, bool, int], _Remainder] = field(default_factory=OrderedDict)

    def keep(
        self, room_id: str, stream: Stream, forward: bool, position: int, rows: list[Item], complete: bool
    ) -> None:
        key = (room_id, stream, forward, position)
        self._rows.pop(key, None)
        if rows or complete:
            self._rows[key] = _Remainder(rows, complete, self.clock.now_ms())
        while len(self._rows) > REMAINDER_ENTRIES:
            self._rows.popitem(last=False)

    def take(self, room_id: str, stream: Stream, forward: bool, position: int) -> _Remainder | None:
        kept = self._rows.pop((room_id, stream, forward, position), None)
        if kept is None or self.clock.now_ms() - kept.stored_at > REMAINDER_TTL_MS:
            return None
        return kept


@dataclass
class Gathered:
    """Rows past a position in paging order, whole milliseconds only."""

    rows: list[Item]
    complete: bool  # nothing lies beyond the last row
    stopped: Stop | None = None  # why reading ended early, when it did
    # Nothing lay beyond the last row when it was read (rows kept from an earlier call may be older
    # than newer changes, so ``complete`` can be False while this is True).
    reached_end: bool = False


class Stop(Exception):
    """A call must end early: the rate limit, its deadline or its request budget."""

    def __init__(self, reason: CutShort, retry_after_seconds: int | None = None) -> None:
        super().__init__(reason)
        self.reason: CutShort = reason
        self.retry_after_seconds = retry_after_seconds


class Pager:
    """The requests of one tool call."""

    def __init__(
        self,
        client: RocketChatClient,
        state: ServerState,
        kept: Kept,
        *,
        max_wait: float,
        deadline_ms: int,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.kept = kept
        self.max_wait = max_wait
        self.progress = progress
        self.clock = state.clock
        # On ``state.clock``: when the last request must have ended, counted from the call's start.
        self.deadline_ms = deadline_ms
        self.requests = 0
        self.refusals = 0
        self.skipped: dict[str, int] = {}
        self._progress_done = 0.0

    # --- what the call learned, for its notes ---------------------------------------------------

    def notes(self) -> list[str]:
        reasons = {
            "invalid": "had no id or no valid time",
            "future": "carried a time past the server's own clock",
        }
        return [
            f"{n} item{'' if n == 1 else 's'} from the server {reasons[why]} and {'was' if n == 1 else 'were'} "
            "left out (they move no position)"
            for why, n in self.skipped.items()
        ]

    # --- reading --------------------------------------------------------------------------------

    async def gather(
        self, room_id: str, stream: Stream, forward: bool, position: int, want: int, page: int
    ) -> Gathered:
        """Rows past ``position`` (after it, or before it backwards) until ``want`` or the end.

        Rows a previous call kept for this position come first and cost no request. A stop after
        some rows were read ends the gathering early instead of failing.
        """
        rows: list[Item] = []
        complete = confirm = reached_end = False
        kept = self.kept.take(room_id, stream, forward, position)
        if kept is not None:
            rows, complete = list(kept.rows), kept.complete
            reached_end = kept.complete
            if complete and forward:
                # "Complete" held when the rows were read; newer changes may have come since, so
                # the server is asked once more when the kept rows fit in this call.
                complete, confirm = False, len(rows) <= want
            position = stamp_ms(rows[-1]) if rows else position
        while not complete and (len(rows) < want or confirm):
            confirm = False
            try:
                size = min(max(page, want - len(rows)), MAX_PAGE)
                fetched, complete = await self.page(room_id, stream, forward, position, size)
            except Stop as stop:
                return Gathered(rows, False, stop, reached_end)
            rows.extend(fetched)
            reached_end = complete
            if fetched:
                position = stamp_ms(fetched[-1])
        return Gathered(rows, complete, reached_end=reached_end or complete)

    async def page(
        self, room_id: str, stream: Stream, forward: bool, position: int, size: int
    ) -> tuple[list[Item], bool]:
        """One page past ``position`` that ends on a whole millisecond, and whether nothing lies beyond."""
        if not await self._has_cursors():
            return await self._legacy_page(room_id, stream, forward, position)
        try:
            return await self._cursor_page(room_id, stream, forward, position, size)
        except RequestRejected as exc:
            if exc.error_type != "error-lastUpdate-param-not-provided" or self.state.version is not None:
                raise
            # A server that did not tell its version turns out to predate cursors.
            self.state.version = LEGACY
            return await self._legacy_page(room_id, stream, forward, position)

    async def _cursor_page(
        self, room_id: str, stream: Stream, forward: bool, position: int, size: int
    ) -> tuple[list[Item], bool]:
        if stream == "deleted":
            # The server sorts trash pages by _updatedAt but bounds them by _deletedAt, so only a
            # complete answer is safe to page through: read it whole.
            size = max(size, DELETED_FIRST_PAGE)
        while True:
            response = await self.request(
                SyncQuery(
                    room_id,
                    sync_type=SyncType.UPDATED if stream == "updated" else SyncType.DELETED,
                    after=position if forward else None,
                    before=None if forward else position,
                    count=size,
                )
            )
            rows = self._items(stream, response)
            server_has_more = (response.cursor_next if forward else response.cursor_previous) is not None
            if not server_has_more:
                rows.sort(key=stamp_ms, reverse=not forward)
                return rows, True
            # A page whose every row was left out (invalid or future-dated) says nothing about where
            # to go on: it grows like a page held in one millisecond, up to MAX_PAGE.
            if stream == "updated" and rows:
                held_back = _without_last_millisecond(rows)
                if held_back:
                    return held_back, False
            if size >= MAX_PAGE:
                raise UnexpectedResponse(
                    f"chat.syncMessages kept saying there was more after {MAX_PAGE} items from one point "
                    "(its cursor never ends), so rc-mcp stopped rather than risk losing or repeating items."
                )
            size = min(size * GROWTH, MAX_PAGE)

    async def both_streams(self, room_id: str, updated_after: int, deleted_after: int) -> tuple[list[Item], list[Item]]:
        """Everything after each stream's position, complete, in one request (``lastUpdate``): the
        cheapest look at a room known to have changed a little. Unbounded on the server, so it is
        for small deltas; a too-large answer raises ResponseTooLarge and the caller pages instead."""
        start = min(updated_after, deleted_after)
        response = await self.request(SyncQuery(room_id, last_update=from_ms(start)))
        updated = [row for row in self._items("updated", response) if stamp_ms(row) > updated_after]
        deleted = [row for row in self._items("deleted", response) if stamp_ms(row) > deleted_after]
        return sorted(updated, key=stamp_ms), sorted(deleted, key=stamp_ms)

    async def _legacy_page(self, room_id: str, stream: Stream, forward: bool, position: int) -> tuple[list[Item], bool]:
        """Servers before 7.1 answer only "everything changed after a time", complete and unpaged."""
        if forward:
            rows = self._items(stream, await self.request(SyncQuery(room_id, last_update=from_ms(position))))
            rows = [row for row in rows if stamp_ms(row) > position]
            rows.sort(key=stamp_ms)
            return rows, True
        reach = LEGACY_BACK_FIRST_MS
        while True:
            start = max(0, position - reach)
            rows = self._items(stream, await self.request(SyncQuery(room_id, last_update=from_ms(start))))
            rows = [row for row in rows if stamp_ms(row) < position]
            rows.sort(key=stamp_ms, reverse=True)
            if rows or start == 0:
                # Everything between start and position is here; what lies before start is unknown
                # unless start is the beginning of time.
                return rows, start == 0
            reach *= LEGACY_BACK_GROWTH

    def _items(self, stream: Stream, response: SyncResponse) -> list[Item]:
        docs = response.updated if stream == "updated" else response.deleted
        parse = Message.from_wire if stream == "updated" else Deletion.from_wire
        horizon = self.state.server_now_ms() + CLOCK_SKEW_MS
        items: list[Item] = []
        for doc in docs:
            item = parse(doc)
            if item is None:
                self._skip("invalid")
            elif stamp_ms(item) > horizon:
                self._skip("future")
            else:
                items.append(item)
        return items

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    # --- requests, pacing and the deadline ------------------------------------------------------

    async def request(self, query: SyncQuery) -> SyncResponse:
        """One chat.syncMessages request, paced by the server's rate-limit headers, within the deadline."""
        while True:
            if self.requests >= MAX_REQUESTS_PER_CALL:
                raise Stop("request_budget")
            await self._respect_window()
            remaining = self._remaining_seconds()
            if remaining <= 0:
                raise Stop("deadline")
            self.requests += 1
            try:
                with anyio.move_on_after(remaining) as scope:
                    response = await self.client.sync_messages(query)
            except RateLimited as exc:
                if exc.reset_at_ms is not None:
                    limit = self.state.window.limit if self.state.window else 0
                    self.state.window = RateLimit(limit=limit, remaining=0, reset_at_ms=exc.reset_at_ms)
                self.refusals += 1
                seconds = exc.wait_seconds
                if (
                    seconds is None
                    or seconds > self.max_wait
                    or seconds + 1 > self._remaining_seconds()
                    or self.refusals >= MAX_REFUSALS_PER_CALL
                ):
                    raise Stop("rate_limit", seconds) from None
                await self._wait(seconds + 1, "Rocket.Chat rate limit reached")
                continue
            if scope.cancelled_caught:
                raise Stop("deadline")
            if response.server_ms is not None:
                self.state.clock_offset_ms = response.server_ms - self.clock.now_ms()
            if response.rate_limit is not None:
                self.state.window = response.rate_limit
            await self._report(1, "read a page from Rocket.Chat")
            return response

    def _remaining_seconds(self) -> float:
        return (self.deadline_ms - self.clock.now_ms()) / 1000

    async def _respect_window(self) -> None:
        window = self.state.window
        if window is None or window.remaining > 0:
            return
        # The reset is in server time; the Date header has whole seconds, so this errs on the long side.
        seconds = (window.reset_at_ms - self.state.server_now_ms()) / 1000 + 1
        if seconds <= 0:
            return
        if seconds > self.max_wait or seconds > self._remaining_seconds():
            raise Stop("rate_limit", int(seconds + 0.999))
        await self._wait(seconds, "pacing: waiting for the rate-limit window to reset")
        self.state.window = None

    async def _wait(self, seconds: float, why: str) -> None:
        await self._report(NOTICE_STEP, f"{why}: waiting {seconds:.0f} s")
        waited = 0.0
        while waited < seconds:
            step = min(1.0, seconds - waited)
            await self.clock.sleep(step)
            waited += step
            left = seconds - waited
            await self._report(step, f"{why}: {left:.0f} s left" if left > 0 else f"{why}: resuming")

    async def _report(self, step: float, message: str) -> None:
        # Progress only ever grows within a request, as the MCP spec requires: seconds waited plus
        # requests made, every report a step further.
        self._progress_done += step
        if self.progress is not None:
            await self.progress(self._progress_done, None, message)

    async def _has_cursors(self) -> bool:
        if not self.state.version_known:
            async with self.state._version_lock:
                if not self.state.version_known:
                    self.state.version = await self._read_version()
                    self.state.version_known = True
        return self.state.version is None or self.state.version.has_cursors

    async def _read_version(self) -> Version | None:
        try:
            with anyio.move_on_after(max(0.0, min(10.0, self._remaining_seconds()))):
                answer = await self.client.server_info()
                return parse_version(answer.body.get("version"))
        except RocketChatError:
            pass
        # Unknown: assume cursors, and learn otherwise from the first refusal.
        return None


def _without_last_millisecond(rows: list[Item]) -> list[Item]:
    last = stamp_ms(rows[-1])
    return [row for row in rows if stamp_ms(row) != last]


def millisecond_boundary(window: list[Item], cut: int) -> int:
    """Move a cut so it does not split a millisecond: back to its start, or forward past its end."""
    boundary = stamp_ms(window[cut])
    start = cut
    while start > 0 and stamp_ms(window[start - 1]) == boundary:
        start -= 1
    if start > 0:
        return start
    end = cut
    while end < len(window) and stamp_ms(window[end]) == boundary:
        end += 1
    return end
