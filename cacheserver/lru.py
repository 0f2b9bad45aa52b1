"""A byte-bounded, thread-safe LRU cache of immutable blobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import LRUCache


@dataclass(frozen=True, slots=True)
class CacheStats:
    """CacheStats is a snapshot of one cache, named as groupcache names them."""

    bytes: int
    items: int
    hits: int
    evictions: int


class _CountingLRU(LRUCache[str, bytes]):
    """_CountingLRU is an LRUCache sized by len(value) + overhead that counts its evictions."""

    def __init__(self, max_bytes: int, item_overhead_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda v: len(v) + item_overhead_bytes)
        self.evictions = 0
        self.evicted_bytes = 0

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()
        self.evictions += 1
        self.evicted_bytes += len(item[1])
        return item


class ByteLRU:
    """ByteLRU holds at most max_bytes of values, none larger than max_item_bytes.

    Each value is charged item_overhead_bytes on top of its length, for the key and
    the bookkeeping that hold it: without that, a budget filled with tiny blobs costs
    many times its size in memory. Stats report the values' own bytes.
    Every access takes the lock: an LRU read reorders the cache, so even a get is a write.
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

    def get(self, key: str) -> bytes | None:
        """Get returns the value for key, or None, marks it recently used and counts a hit."""
        with self._lock:
            try:
                value = self._lru[key]  # one lookup; .get() would do two
            except KeyError:
                return None
            self._hits += 1  # under the lock already taken: a hit costs no other lock
            return value

    def peek(self, key: str) -> bytes | None:
        """Peek returns the value for key, or None, without counting a hit."""
        with self._lock:
            return self._lru.get(key)

    def add(self, key: str, value: bytes) -> bool:
        """Add caches value unless it is over the per-item limit; it reports whether it did.

        A value over the limit is refused before anything is evicted, so one large blob
        never flushes the cache.
        """
        if len(value) > self.max_item_bytes or self.max_bytes == 0:
            return False
        with self._lock:
            self._lru[key] = value
        return True

    def evicted_bytes(self) -> int:
        """Evicted_bytes is the running total of the values' bytes evicted (read unlocked)."""
        return self._lru.evicted_bytes

    def stats(self) -> CacheStats:
        """Stats returns the current size and counters."""
        with self._lock:
            items = len(self._lru)
            return CacheStats(
                bytes=int(self._lru.currsize) - items * self.item_overhead_bytes,
                items=items,
                hits=self._hits,
                evictions=self._lru.evictions,
            )
