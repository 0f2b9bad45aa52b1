"""A non-blocking bound on how many requests may wait at once."""

from __future__ import annotations

import threading

from cacheserver.errors import Overloaded


class Gate:
    """Gate admits at most limit holders; one more is refused at once, never queued.

    A refused request answers 503 + Retry-After in microseconds, so the threads that
    serve hits are never all waiting on fills, peers or streams.
    """

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self._free = threading.BoundedSemaphore(limit)

    def enter(self) -> None:
        """Enter takes a place or raises Overloaded."""
        if not self._free.acquire(blocking=False):
            raise Overloaded(f"{self.limit} {self.name} already waiting")

    def leave(self) -> None:
        """Leave gives a place back."""
        self._free.release()
