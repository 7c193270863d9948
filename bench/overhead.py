"""What rc-mcp adds to a large answer, next to merely parsing it: a 10,000-message
chat.syncMessages body (~6 MB, bench/dataset.py's realistic shapes, as the emulator serialises it)
read by ``json.loads`` alone vs rc-mcp's pipeline on the same bytes: parse, ``Message.from_wire``
for each document, and ``render`` of a ``StreamPage`` holding them all (no character budget cut).

The two are timed alternately in one run (which goes first alternates too), so both see the same
machine load; each ratio printed is the median of RUNS per-run ratios. The cyclic garbage collector
is a third of both times, and its full collections come when its counters say: one timing inherits
the counters the other left, so the pipeline pays one or two full collections. The headline ratio
is measured like that, back to back; the line after it starts each timing from a collected heap
(one full collection each), to show how much of the difference is the collector's timing.
Run: python bench/overhead.py [--profile]
"""

from __future__ import annotations

import cProfile
import gc
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.dataset import realistic_room
from rc_mcp.emulator.syncmessages import handle
from rc_mcp.models import Message
from rc_mcp.render import render
from rc_mcp.results import StreamPage
from rc_mcp.times import parse_iso, to_ms

MESSAGES = 10_000
RUNS = 5
TARGET = 3.0
SINCE = "2026-11-19T00:00:00.000Z"


def build_body() -> tuple[bytes, str]:
    """The server's answer to ``lastUpdate=SINCE`` for the whole room, as bytes, and the room id."""
    ws, room, user_id, _ = realistic_room(messages=MESSAGES)
    status, body = handle(ws, user_id, {"roomId": room, "lastUpdate": SINCE})
    assert status == 200, body
    # Starlette's JSONResponse (the emulator's) serialises exactly like this.
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(), room


def pipeline(body: bytes, room: str) -> str:
    docs = json.loads(body)["result"]["updated"]
    messages = [m for m in map(Message.from_wire, docs) if m is not None]
    messages.sort(key=attrgetter("ts"))  # as streams._ordered shows them: by time sent
    since = parse_iso(SINCE)
    assert since is not None
    page = StreamPage(
        room_id=room,
        room_name="engineering",
        stream="updated",
        mode="last_update",
        position=str(to_ms(since)),
        since=since,
        messages=messages,
        watermark=str(max(to_ms(m.updated_at) for m in messages)),
    )
    return render(page)


def timed(action: Callable[[], object], collect: bool) -> float:
    if collect:
        gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def ratios(body: bytes, room: str, collect: bool) -> tuple[list[float], list[float]]:
    """Per run: (json.loads seconds, pipeline seconds), alternating which goes first."""
    parse_times, pipeline_times = [], []
    for run in range(RUNS):
        for which in (0, 1) if run % 2 == 0 else (1, 0):
            if which == 0:
                parse_times.append(timed(lambda: json.loads(body), collect))
            else:
                pipeline_times.append(timed(lambda: pipeline(body, room), collect))
    return parse_times, pipeline_times


def main() -> int:
    body, room = build_body()
    text = pipeline(body, room)
    shown = text.count("\n") + 1
    if "--profile" in sys.argv:
        profiler = cProfile.Profile()
        profiler.runcall(pipeline, body, room)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0
    parse_times, pipeline_times = ratios(body, room, collect=False)
    per_run = [p / q for p, q in zip(pipeline_times, parse_times, strict=True)]
    ratio = statistics.median(per_run)
    collected_parse, collected_pipeline = ratios(body, room, collect=True)
    collected = [p / q for p, q in zip(collected_pipeline, collected_parse, strict=True)]
    print(f"body:            {len(body) / 1e6:.1f} MB, {MESSAGES} messages, {shown} lines of text ({len(text)} chars)")
    print(f"json.loads:      median {statistics.median(parse_times) * 1000:.0f} ms")
    print(f"rc-mcp pipeline: median {statistics.median(pipeline_times) * 1000:.0f} ms (parse + models + render)")
    print(f"per-run ratios:  {', '.join(f'{r:.2f}' for r in per_run)} (spread {min(per_run):.2f}-{max(per_run):.2f})")
    print(f"ratio:           {ratio:.2f}x (median of {RUNS} runs; target <= {TARGET:g}x)")
    print(
        f"collected:       {statistics.median(collected):.2f}x (median of {RUNS}, gc.collect() before each timing; "
        f"spread {min(collected):.2f}-{max(collected):.2f})"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
