"""Singleflight: concurrent loads of one key share one fill.

Unlike groupcache, the fill does not run on the first caller's thread but on a small
pool of its own, and every caller (the first one too) only waits for it, with a
timeout. So a caller that gives up or goes away never cancels the fill the others
are waiting for, an exception reaches every waiter, and nobody waits forever.
Fills wait in a queue of at most QUEUE_FACTOR x max_fills keys: past it a new key is
refused (Overloaded) rather than queued for longer than anyone would wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

from cacheserver.errors import Overloaded, UpstreamTimeout

K = TypeVar("K")
V = TypeVar("V")
QUEUE_FACTOR = 4


class Flight(Generic[K, V]):
    """Flight runs at most one fill per key at a time on a pool of max_fills threads."""

    def __init__(self, max_fills: int = 16, name: str = "fill") -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_fills, thread_name_prefix=name)
        self._max_pending = max_fills * QUEUE_FACTOR
        self._lock = threading.Lock()
        self._calls: dict[K, Future[V]] = {}

    def do(self, key: K, fill: Callable[[], V], timeout_s: float) -> tuple[V, bool]:
        """Do returns fill()'s result, starting fill only if none is running for key.

        The boolean is True when the result came from a fill another caller started.
        Waiting longer than timeout_s raises UpstreamTimeout; the fill carries on.
        """
        with self._lock:
            future = self._calls.get(key)
            shared = future is not None
            if future is None:
                if len(self._calls) >= self._max_pending:
                    raise Overloaded(f"{len(self._calls)} fills already running or queued")
                # Submitted under the lock: _run's cleanup needs it, so it cannot
                # remove the key before it is recorded.
                future = self._pool.submit(self._run, key, fill)
                self._calls[key] = future
        try:
            return future.result(timeout_s), shared
        except FutureTimeout:
            raise UpstreamTimeout(f"fill still running after {timeout_s:g}s") from None

    def _run(self, key: K, fill: Callable[[], V]) -> V:
        try:
            return fill()
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def in_flight(self) -> int:
        """In_flight returns how many fills are running."""
        with self._lock:
            return len(self._calls)

    def close(self) -> None:
        """Close stops accepting fills; running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
