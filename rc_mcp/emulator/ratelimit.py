"""Rocket.Chat's default REST rate limiter (reference §6.3): a fixed window per client IP + route."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_CALLS = 10
DEFAULT_WINDOW_MS = 60_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]
    body: dict[str, object] | None  # the 429 body when not allowed


class RateLimiter:
    """Counts calls per key in a window that restarts ``window_ms`` after its last reset."""

    def __init__(
        self,
        calls: int = DEFAULT_CALLS,
        window_ms: int = DEFAULT_WINDOW_MS,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.calls = calls
        self.window_ms = window_ms
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def check(self, ip: str, route: str) -> Verdict:
        with self._lock:
            now = self._clock()
            start, used = self._windows.get((ip, route), (now, 0))
            if now >= start + self.window_ms:
                start, used = now, 0
            used += 1
            self._windows[(ip, route)] = (start, used)
            reset = start + self.window_ms
            headers = {
                "X-RateLimit-Limit": str(self.calls),
                "X-RateLimit-Remaining": str(max(0, self.calls - used)),
                "X-RateLimit-Reset": str(reset),
            }
            if used <= self.calls:
                return Verdict(True, headers, None)
            self.rejected += 1
            error = too_many_requests_error(math.ceil((reset - now) / 1000))
            return Verdict(False, headers, {"success": False, "error": error})


def too_many_requests_error(seconds: int) -> str:
    """The ``error`` of Rocket.Chat's 429 (reference §6.3): a Meteor.Error message, no errorType."""
    return (
        "Error, too many requests. Please slow down. You must wait "
        f"{seconds} seconds before trying this endpoint again. [error-too-many-requests]"
    )
