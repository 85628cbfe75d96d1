"""How often one client may poll: requests per client per minute, in fixed one-minute windows.

A client over the limit is told when to come back (429 with Retry-After, RFC 6585), rather
than served: a reader polling every few seconds costs every other reader.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

WINDOW_S = 60.0


class PollLimit:
    """Counts requests per client; the counts start afresh each window, so memory stays small."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._window_ends = 0.0

    def retry_after(self, client: str) -> int | None:
        """None while ``client`` is within the limit, else the whole seconds until it is again."""
        now = self._clock()
        if now >= self._window_ends:
            self._counts.clear()
            self._window_ends = now + WINDOW_S
        count = self._counts.get(client, 0) + 1
        self._counts[client] = count
        if count <= self._per_minute:
            return None
        return max(1, math.ceil(self._window_ends - now))
