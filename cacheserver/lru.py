"""A byte-bounded, thread-safe LRU cache of immutable blobs."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Final

from cachetools import LRUCache


@dataclass(frozen=True, slots=True)
class CacheStats:
    """CacheStats is a snapshot of one cache, named as groupcache names them."""

    bytes: int
    items: int
    hits: int
    evictions: int


# Hits wait in a queue to be replayed on the LRU order at most this many at a time.
TOUCH_BATCH: Final = 512


class _CountingLRU(LRUCache[str, bytes]):
    """_CountingLRU is an LRUCache sized by len(value) + overhead that counts its evictions.

    It keeps `held` (a plain dict of what it holds) in step, for reads without the lock.
    """

    def __init__(self, max_bytes: int, item_overhead_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda v: len(v) + item_overhead_bytes)
        self.held: dict[str, bytes] = {}
        self.evictions = 0
        self.evicted_bytes = 0

    def __setitem__(self, key: str, value: bytes) -> None:
        super().__setitem__(key, value)  # evicts first, then stores: held follows
        self.held[key] = value

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        del self.held[key]

    def clear(self) -> None:
        super().clear()
        self.held.clear()

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()  # through __delitem__: held follows
        self.evictions += 1
        self.evicted_bytes += len(item[1])
        return item


class ByteLRU:
    """ByteLRU holds at most max_bytes of values, none larger than max_item_bytes.

    Each value is charged item_overhead_bytes on top of its length, for the key and
    the bookkeeping that hold it: without that, a budget filled with tiny blobs costs
    many times its size in memory. Stats report the values' own bytes.

    A hit takes no lock: it reads a plain dict (one atomic lookup under the GIL) and queues
    its key; the queue is replayed on the LRU order, under the lock, before anything is
    added or evicted, and whenever TOUCH_BATCH hits wait. So the order is exactly that of
    a locked LRU at every eviction, and a hit costs a dict lookup and an append (the
    locked cachetools read was 40% of a hit's Python time).
    """

    def __init__(
        self, max_bytes: int, max_item_bytes: int | None = None, item_overhead_bytes: int = 0
    ) -> None:
        if max_bytes < 0 or item_overhead_bytes < 0:
            raise ValueError("max_bytes and item_overhead_bytes must not be negative")
        self.max_bytes = max_bytes
        self.item_overhead_bytes = item_overhead_bytes
        room = max_bytes - item_overhead_bytes  # the largest value that fits at all
        self.max_item_bytes = room if max_item_bytes is None else min(max_item_bytes, room)
        self._lru = _CountingLRU(max(max_bytes, 1), item_overhead_bytes)
        self._lock = threading.Lock()
        self._hits = 0
        self._values = self._lru.held
        self._touched: deque[str] = deque()

    def get(self, key: str) -> bytes | None:
        """Get returns the value for key, or None, marks it recently used and counts a hit."""
        value = self._values.get(key)
        if value is not None:
            touched = self._touched
            touched.append(key)
            if len(touched) > TOUCH_BATCH:
                with self._lock:
                    self._replay()
        return value

    def _replay(self) -> None:
        # Under the lock: the waiting hits, oldest first, as a locked get would have done them.
        touched, lru = self._touched, self._lru
        while touched:
            key = touched.popleft()
            self._hits += 1
            lru.get(key)  # reorders, unless evicted since

    def peek(self, key: str) -> bytes | None:
        """Peek returns the value for key, or None, without counting a hit."""
        return self._values.get(key)

    def add(self, key: str, value: bytes) -> bool:
        """Add caches value unless it is over the per-item limit; it reports whether it did.

        A value over the limit is refused before anything is evicted, so one large blob
        never flushes the cache.
        """
        if len(value) > self.max_item_bytes or self.max_bytes == 0:
            return False
        with self._lock:
            self._replay()
            self._lru[key] = value
        return True

    def evicted_bytes(self) -> int:
        """Evicted_bytes is the running total of the values' bytes evicted (read unlocked)."""
        return self._lru.evicted_bytes

    def stats(self) -> CacheStats:
        """Stats returns the current size and counters."""
        with self._lock:
            self._replay()
            items = len(self._lru)
            return CacheStats(
                bytes=int(self._lru.currsize) - items * self.item_overhead_bytes,
                items=items,
                hits=self._hits,
                evictions=self._lru.evictions,
            )
