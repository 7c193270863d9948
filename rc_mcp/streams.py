"""The two stream tools without MCP: ``sync_messages`` (UPDATED) and ``list_deleted`` (DELETED).

Every page starts at a position (a millisecond timestamp) and continues from the last item it
showed, whole milliseconds only, so following continuations shows every item exactly once even
when items are added or deleted between calls. ``last_update`` is such a position too: it is read
through cursors where the server has them, and through ``lastUpdate`` where it does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, TypeVar

from rc_mcp.errors import RateLimited, ServerUnreachable
from rc_mcp.history import History
from rc_mcp.models import Deletion, Item, Message, Room, stamp_ms
from rc_mcp.paging import SLACK, Pager, Stop, millisecond_boundary
from rc_mcp.results import FRAME_CHARS, Budget, StreamPage
from rc_mcp.rules import SyncPlan
from rc_mcp.times import from_ms

_I = TypeVar("_I", Message, Deletion)


async def read_stream(pager: Pager, history: History, room: Room, plan: SyncPlan, budget: Budget) -> StreamPage:
    """One page of a room's UPDATED or DELETED stream from the plan's position."""
    want = plan.offset + plan.count
    gathered = await pager.gather(room.id, plan.stream, plan.forward, plan.position, want, want + SLACK)
    if not gathered.rows and gathered.stopped is not None:
        raise stopped_error(gathered.stopped, pager)
    window = gathered.rows[plan.offset :]
    budget = budget.reserve(FRAME_CHARS)
    cut = _fitting(budget, window)
    notes = pager.notes()
    messages, deletions = await history.annotate(_of(Message, window[:cut]), _of(Deletion, window[:cut]), notes)
    # Change kinds, edit diffs and recalled texts make lines longer than the first cut counted them:
    # cut again, and what no longer fits comes with the next page.
    annotated: list[Item] = [*messages, *deletions]  # one stream: one of the two is empty
    cut = _fitting(budget, annotated)
    shown = annotated[:cut]
    messages, deletions = _of(Message, shown), _of(Deletion, shown)
    more = cut < len(window) or not gathered.complete
    # Rows skipped by offset were read too: the next page starts after everything read so far.
    edge = shown[-1] if shown else (gathered.rows[-1] if gathered.rows else None)
    far = stamp_ms(edge) if edge is not None else plan.position
    if more:
        pager.kept.keep(room.id, plan.stream, plan.forward, far, window[cut:], gathered.reached_end)
    near = str(stamp_ms(shown[0])) if shown else None
    far_cursor = str(far) if more else None
    await history.record(messages, deletions, notes)
    stop = gathered.stopped
    return StreamPage(
        room_id=room.id,
        room_name=room.label,
        stream=plan.stream,
        mode=plan.mode,
        position=str(plan.position),
        since=from_ms(plan.position) if plan.mode == "last_update" else None,
        messages=_ordered(messages, plan.sort or ((("ts", 1 if plan.forward else -1)),)),
        deleted=_ordered(deletions, plan.sort),
        next_cursor=far_cursor if plan.forward else near,
        previous_cursor=near if plan.forward else far_cursor,
        continuation=plan.continuation(far) if more else None,
        watermark=_watermark(plan, shown),
        cut_short=stop.reason if stop else None,
        retry_after_seconds=stop.retry_after_seconds if stop else None,
        notes=notes,
    )


def _fitting(budget: Budget, window: list[Item]) -> int:
    """How many leading items of ``window`` to show: within the budget, never splitting a millisecond."""
    cut = budget.fit(window)
    return millisecond_boundary(window, cut) if cut < len(window) else cut


def _of(kind: type[_I], items: Sequence[Item]) -> list[_I]:
    return [item for item in items if isinstance(item, kind)]


def stopped_error(stop: Stop, pager: Pager) -> Exception:
    """The error for a call that had to stop before it read anything."""
    if stop.reason == "rate_limit":
        return RateLimited("the rate-limit window is used up", None, stop.retry_after_seconds)
    return ServerUnreachable(
        f"Rocket.Chat did not finish answering in time ({stop.reason.replace('_', ' ')}, after {pager.requests} "
        "requests). Retry later; if it persists, ask for fewer items at a time."
    )


def _watermark(plan: SyncPlan, shown: list[Item]) -> str | None:
    """The newest change seen, to ask later for only newer ones."""
    if shown:
        return str(max(map(stamp_ms, shown)))
    return str(plan.position) if plan.forward else None


def _ordered(items: list[Any], order: tuple[tuple[str, int], ...] | None) -> list[Any]:
    """A page in the order asked for. Pages hold the next changes in the order they happened; by
    default messages are shown by the time they were sent and deletions by when they happened."""
    if not order:
        return items
    ordered = list(items)
    # Stable sorts applied from the last key to the first give a multi-key sort.
    for name, direction in reversed(order):
        ordered.sort(key=attrgetter(name), reverse=direction == -1)
    return ordered
