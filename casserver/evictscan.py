"""Scan: one walk of the store that counts what the budget counts and finds the oldest.

The walk keeps only candidates: the oldest entries (blobs and action results alike, by
modification time, which ``Recency`` moves forward on use) whose sizes add up to what a
pass must free. Its memory is bounded by what is evicted, not by the store, so a
million blobs need no index in memory, and none on disk to rebuild after a restart.

A modification time over an hour ahead of the clock was written by a clock that ran ahead
(a wrong RTC at boot, a restored backup): as it stands, its file would stay within the
grace until the clock caught up, for years perhaps. The walk sets it to now, so the file
counts as just used and ages from there.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cascommon.digest import SHA256

log = logging.getLogger(__name__)

# Far beyond any NFS or NTP skew: a time further ahead is a wrong clock's.
FUTURE_SLACK_NS: Final = 3600 * 10**9

# What the budget counts: blobs by SHA-256 (SHA-1 names are links) and action results
# (actioncache.AC_DIR, not imported: it would bring falcon and protobuf into the evictor).
COUNTED: Final = (SHA256, "ac")


@dataclass(frozen=True, slots=True, order=True)
class Candidate:
    """Candidate is one stored file the scan found old enough to evict."""

    mtime_ns: int
    relpath: str
    size: int
    inode: int


@dataclass(slots=True)
class Scan:
    """Scan is what one walk counted, and the oldest files out of the grace, oldest first."""

    files: int = 0
    bytes: int = 0
    blobs: int = 0  # of files and bytes, those under sha256/ (the storage gauges count them)
    blob_bytes: int = 0
    in_grace_bytes: int = 0
    from_the_future: int = 0  # files whose modification time was set back to now
    oldest: list[Candidate] = field(default_factory=list)


def scan(root: Path, need_bytes: int, cutoff_ns: int) -> Scan:
    """Walk the store; keep the oldest files modified before cutoff_ns, need_bytes of them."""
    result = Scan()
    heap: list[tuple[int, Candidate]] = []  # newest on top, to drop it when not needed
    kept = 0
    future_ns = time.time_ns() + FUTURE_SLACK_NS
    for top in COUNTED:
        for fanout in _dirs(root / top):
            for entry in _entries(fanout):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # evicted or replaced while we walked
                result.files += 1
                result.bytes += st.st_size
                if top == SHA256:
                    result.blobs += 1
                    result.blob_bytes += st.st_size
                if st.st_mtime_ns > future_ns and _set_to_now(entry.path):
                    result.from_the_future += 1
                    result.in_grace_bytes += st.st_size
                    continue
                if st.st_mtime_ns >= cutoff_ns:
                    result.in_grace_bytes += st.st_size
                    continue
                if need_bytes <= 0:
                    continue
                relpath = f"{top}/{os.path.basename(fanout)}/{entry.name}"
                item = Candidate(st.st_mtime_ns, relpath, st.st_size, st.st_ino)
                heapq.heappush(heap, (-item.mtime_ns, item))
                kept += item.size
                while kept - heap[0][1].size >= need_bytes:
                    kept -= heapq.heappop(heap)[1].size
    result.oldest = sorted(item for _, item in heap)
    if result.from_the_future:
        log.warning(
            "files modified in the future (a clock ran ahead) now count as just used",
            extra={"files": result.from_the_future, "storage": str(root)},
        )
    return result


def _set_to_now(path: str) -> bool:
    try:
        os.utime(path)
    except OSError:  # gone meanwhile, or not ours to touch: left as it is
        return False
    return True


def _dirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return [e for e in it if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []
