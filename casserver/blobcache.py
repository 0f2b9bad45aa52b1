"""BlobCache: small stored blobs kept in a worker's memory, with their answers' headers.

A blob's bytes never change under its name (a damaged file is only ever replaced by the
same bytes), so a copy in memory, hashed on its way in, cannot go stale while its file
exists. Files do vanish: the evictor removes blobs past the budget, an operator may prune
the volume, another replica may evict on a shared volume. So an entry is trusted for
``RECHECK_S`` after it was read and is read again after that: a removed blob stops being
served within that time (serving it meanwhile is correct: its bytes are still its name's).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any, Final

from cachetools import LRUCache

from casserver.blobfile import UnreadableBlob
from casserver.blobsize import DamagedBlob, blob_size
from casserver.getplan import Prebuilt

# Blobs up to this size are read whole and sent from memory: for small files one read
# costs less than granian's own file open; bigger ones granian streams itself.
SMALL_BYTES: Final = 256 * 1024
# How long a cached copy is served without looking at its file again.
RECHECK_S: Final = 1.0
# What an entry costs beyond its bytes (key, headers, the entry itself), counted
# against the bound so that many tiny blobs cannot overrun it.
ENTRY_OVERHEAD_BYTES: Final = 1024
# Big files whose check is remembered (each a path, a stat and prebuilt headers).
MAX_CHECKED: Final = 4096
# Non-blocking: a FIFO put under a blob's name must not hang the event loop. No
# symlinks: casserver never makes one, and what it points at carries no recorded size.
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
_HASHERS: Final[dict[int, Callable[[bytes], Any]]] = {64: hashlib.sha256, 40: hashlib.sha1}


class Entry(Prebuilt):
    """Entry is one stored blob as FastGet answers it, with its bytes when it is small."""

    __slots__ = ("file", "data", "read_at")

    def __init__(self, file: str, hexdigest: str, size: int, data: bytes | None, now: float):
        super().__init__(hexdigest, size)
        self.file = file
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
        # Big files checked before, by path: the (inode, size, ctime, mode) they had then.
        # Any change to a file (a write, a truncate, chmod, a new link) moves its ctime, so
        # a serve whose stat still matches needs no open and no xattr read.
        self._checked: dict[str, tuple[tuple[int, int, int, int], Entry]] = {}
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
        """Load reads file (its bytes too when small), kept if it fits; None when absent.

        It raises DamagedBlob when the file is not its blob (a size other than the one
        committed, or bytes that do not hash to the name on their way into memory), and
        UnreadableBlob when it cannot be read: both are answered 500, never with bytes.
        """
        try:
            st = os.lstat(file)  # a symlink's own stamp: it is refused on open
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _unreadable(exc, hexdigest) from exc
        stamp = (st.st_ino, st.st_size, st.st_ctime_ns, st.st_mode)
        if st.st_size > self.read_bytes:
            checked = self._checked.get(file)
            if checked is not None and checked[0] == stamp:
                return checked[1]
        read = _read_checked(file, hexdigest, self.read_bytes)
        if read is None:
            return None
        size, data = read
        entry = Entry(file, hexdigest, size, data, now)
        if data is None and size == st.st_size:
            if len(self._checked) >= MAX_CHECKED:
                self._checked.clear()  # rare, and a miss costs only one open
            self._checked[file] = (stamp, entry)
        if data is not None and size <= self.item_bytes:
            assert self._entries is not None  # item_bytes > 0 only with a cache
            # Kept and served for a while without a look at the file: hashed once first.
            if _HASHERS[len(hexdigest)](data).hexdigest() != hexdigest:
                raise DamagedBlob(f"stored file of {hexdigest} does not hash to it", "hash")
            self._entries[key] = entry
        return entry


def _read_checked(file: str, hexdigest: str, read_bytes: int) -> tuple[int, bytes | None] | None:
    """Read_checked opens file and checks its size: (size, bytes if small), None when absent."""
    try:
        fd = os.open(file, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _unreadable(exc, hexdigest) from exc
    try:
        size = blob_size(fd, hexdigest)
        # Big files only need their size: granian opens and sends them itself.
        data = os.pread(fd, size, 0) if size <= read_bytes else None
    except (UnreadableBlob, DamagedBlob):
        raise
    except OSError as exc:
        raise _unreadable(exc, hexdigest) from exc
    finally:
        os.close(fd)
    if data is not None and len(data) != size:
        raise DamagedBlob(f"stored file of {hexdigest} changed size while read")
    return size, data


def _unreadable(exc: OSError, hexdigest: str) -> UnreadableBlob:
    return UnreadableBlob(exc.errno, f"stored file of {hexdigest}: {exc.strerror}")
