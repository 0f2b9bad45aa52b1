"""glibc malloc settings that keep a member's RSS near what its caches hold.

Measured in a soak member (50 KB values, CACHE_BYTES 8 MiB): values are allocated by
whichever fill thread loaded them and freed, on eviction, into that thread's arena.
glibc gives each thread an arena of its own (up to 8 per core), and with 13-22
threads (granian's, fills', the peer listener's) 3.8-6 MiB of freed chunks sat in
them, 0.5-0.75x CACHE_BYTES over the values themselves. Two arenas and a trim after
each eighth of the budget evicted bring it to 0.4-2 MiB. (A fixed 128 KiB mmap
threshold as well, which makes every 200 KB value and response copy an mmap of its
own, had test_cluster's sixty clients on one cold key refused with 503 in 3 of 5 runs.)
Elsewhere than glibc (musl, macOS) these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Final

# mallopt parameters, from glibc's malloc.h.
M_ARENA_MAX: Final = -8
# Threads share two arenas: one lock each, and Python threads take turns under the
# GIL anyway; freed memory is reused across threads instead of kept per thread.
ARENA_MAX: Final = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_LIBC: Final = _libc()


def tune() -> bool:
    """Tune caps glibc's arenas; it reports whether glibc took the setting."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, ARENA_MAX))


class Trimmer:
    """Trimmer returns freed heap pages to the system once every_bytes have been freed.

    Evicted values leave holes inside the heap that glibc keeps (it trims only the
    heap's top); malloc_trim gives their whole pages back. It runs on the fill that
    evicted, never on a hit, and took 0.2-4 ms per call in the soak.
    """

    def __init__(self, every_bytes: int) -> None:
        self.every_bytes = max(1, every_bytes)
        self.trims = 0
        self._lock = threading.Lock()
        self._last = 0

    def freed(self, total_bytes: int) -> bool:
        """Freed takes the running total of freed bytes and trims past each every_bytes."""
        with self._lock:
            if total_bytes - self._last < self.every_bytes:
                return False
            self._last = total_bytes
            self.trims += 1
        if _LIBC is not None:
            _LIBC.malloc_trim(0)
        return True
