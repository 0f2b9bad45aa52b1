"""BlobCache: small stored blobs kept in a worker's memory, with their answers' headers.

A blob never changes under its name (``BlobStore`` links, never replaces), so a copy in
memory cannot go stale while its file exists. Files do vanish: the evictor removes blobs
past the budget, an operator may prune the volume, another replica may evict on a shared
volume. So an entry is trusted for ``RECHECK_S`` after it was read and is read again after
that: a removed blob stops being served within that time (serving it meanwhile is correct,
its bytes are still those of its name).
"""

from __future__ import annotations

import os
from typing import Final

from cachetools import LRUCache

from cascommon.blobheaders import CACHE_CONTROL, OCTET_STREAM, etag

# Blobs up to this size are read whole and sent from memory: for small files one read
# costs less than granian's own file open; bigger ones granian streams itself.
SMALL_BYTES: Final = 256 * 1024
# How long a cached copy is served without looking at its file again.
RECHECK_S: Final = 1.0
# What an entry costs beyond its bytes (key, headers, the entry itself), counted
# against the bound so that many tiny blobs cannot overrun it.
ENTRY_OVERHEAD_BYTES: Final = 1024

Headers = list[tuple[str, str]]


class Entry:
    """Entry is one stored blob as FastGet answers it, with its bytes when it is small."""

    __slots__ = ("file", "size", "tag", "validators", "full", "data", "read_at")

    def __init__(self, file: str, hexdigest: str, size: int, data: bytes | None, now: float):
        self.file = file
        self.size = size
        self.tag = etag(hexdigest)
        # The headers of a 304, which every other answer starts with.
        self.validators: Headers = [
            ("etag", self.tag), ("cache-control", CACHE_CONTROL), ("accept-ranges", "bytes")
        ]  # fmt: skip
        # The headers of a whole 200 (GET or HEAD), built once and sent as is.
        self.full: Headers = [
            *self.validators, ("content-type", OCTET_STREAM), ("content-length", str(size))
        ]  # fmt: skip
        self.data = data
        self.read_at = now


def _cost(entry: Entry) -> int:
    return entry.size + ENTRY_OVERHEAD_BYTES


class BlobCache:
    """BlobCache holds entries of blobs up to item_bytes, at most max_bytes in all, LRU first out.

    It is used from one event loop only, so it takes no lock.
    """

    def __init__(self, max_bytes: int, item_bytes: int) -> None:
        self.max_bytes = max_bytes
        # An item must fit with its overhead, or storing it would flush the whole cache.
        self.item_bytes = min(item_bytes, max_bytes - ENTRY_OVERHEAD_BYTES)
        self.read_bytes = max(SMALL_BYTES, self.item_bytes)  # read whole, sent from memory
        self._entries: LRUCache[str, Entry] | None = (
            LRUCache(max_bytes, getsizeof=_cost) if self.item_bytes > 0 else None
        )

    @property
    def current_bytes(self) -> int:
        """Current_bytes is what the entries held now count against max_bytes."""
        return 0 if self._entries is None else int(self._entries.currsize)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    def get(self, key: str, now: float) -> Entry | None:
        """Get returns the entry under key while it is fresh (read within RECHECK_S), else None."""
        entries = self._entries
        if entries is None:
            return None
        try:
            entry = entries[key]
        except KeyError:
            return None
        if now - entry.read_at > RECHECK_S:
            del entries[key]
            return None
        return entry

    def load(self, key: str, file: str, hexdigest: str, now: float) -> Entry | None:
        """Load reads file (its bytes too when small), kept if it fits; None when unreadable."""
        try:
            size = os.stat(file).st_size
            # Big files only need their size: granian opens and sends them itself.
            data = _read(file, size) if size <= self.read_bytes else None
        except OSError:
            # Absent, or not readable (a directory, no permission, EIO): Falcon's path
            # answers these as it always has (404, or the problem+json of the error).
            return None
        if data is not None:
            size = len(data)  # what is sent is what was read
        entry = Entry(file, hexdigest, size, data, now)
        if data is not None and size <= self.item_bytes:
            assert self._entries is not None  # item_bytes > 0 only with a cache
            self._entries[key] = entry
        return entry


def _read(file: str, size: int) -> bytes:
    fd = os.open(file, os.O_RDONLY)
    try:
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
