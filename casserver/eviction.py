"""One eviction pass: scan the store, then remove the least recently used down to a target.

A file is removed by renaming it into ``evict/trash/`` first and looking at it there: a
process that touched it (a read flushed, a re-upload) after the scan moved its
modification time on, and then it is linked back. A re-upload touches the file before it
answers ``200``, so a blob the client was told is stored is never taken away under it (a
touch after the rename finds no file, and the upload stores the blob anew). A response in
flight keeps reading its open file: unlinking a name never frees an open file on Linux.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from cascommon.digest import SHA1
from casserver.evictscan import Candidate, scan
from casserver.recency import EVICT_DIR

log = logging.getLogger(__name__)

TRASH_DIR: Final = "trash"
# Candidates kept beyond what must be freed, for those touched since the scan.
SPARE: Final = 1.25


@dataclass(frozen=True, slots=True)
class PassResult:
    """PassResult is what one pass found and removed."""

    started_at: float
    duration_s: float
    files: int
    bytes_before: int
    bytes_after: int
    target_bytes: int
    evicted_blobs: int
    evicted_ac: int
    evicted_bytes: int
    evicted_blob_bytes: int
    # Above the target at the end only because what is left was used within the grace.
    short: bool

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON-ready fields."""
        return asdict(self)


def trash_dir(root: Path) -> Path:
    """Return where files wait between their rename and their removal."""
    return root / EVICT_DIR / TRASH_DIR


def empty_trash(root: Path) -> int:
    """Remove what a pass that died left in the trash; return how many files."""
    trash = trash_dir(root)
    trash.mkdir(parents=True, exist_ok=True)
    removed = 0
    for entry in os.scandir(trash):
        os.unlink(entry.path)
        removed += 1
    return removed


def run_pass(root: Path, target_bytes: int, protect_s: float, estimate_bytes: int) -> PassResult:
    """Scan root and remove the oldest files outside the protection until target_bytes remain."""
    started, t0 = time.time(), time.perf_counter()
    cutoff_ns = int((started - protect_s) * 1e9)
    need = max(estimate_bytes - target_bytes, 0)
    found = scan(root, int(need * SPARE), cutoff_ns)
    if found.bytes - target_bytes > need * SPARE or (found.bytes > target_bytes and not need):
        # The estimate was low (a first pass, lost journal lines): walk again knowing the total.
        found = scan(root, int((found.bytes - target_bytes) * SPARE), cutoff_ns)
    remaining = found.bytes
    blobs = acs = freed = blob_bytes = 0
    linked: set[int] = set()  # inodes that may still have a SHA-1 name
    trash = trash_dir(root)
    for item in found.oldest:
        if remaining <= target_bytes:
            break
        if not remove(root, trash, item):
            continue
        remaining -= item.size
        freed += item.size
        if item.relpath.startswith("ac/"):
            acs += 1
        else:
            blobs += 1
            blob_bytes += item.size
            linked.add(item.inode)
    if linked:
        _unlink_aliases(root, linked)
    result = PassResult(
        started, time.perf_counter() - t0, found.files, found.bytes, remaining,
        target_bytes, blobs, acs, freed, blob_bytes, remaining > target_bytes,
    )  # fmt: skip
    log.info("eviction pass", extra=result.to_json())
    return result


def remove(root: Path, trash: Path, item: Candidate) -> bool:
    """Remove item unless it was touched since the scan; return whether it is gone."""
    path = root / item.relpath
    parked = trash / item.relpath.replace("/", "-")
    try:
        os.rename(path, parked)
    except FileNotFoundError:
        return False
    try:
        touched = os.lstat(parked).st_mtime_ns != item.mtime_ns
    except FileNotFoundError:
        return False
    if touched:
        try:
            os.link(parked, path)  # used since the scan: it stays
        except OSError as exc:
            if exc.errno != errno.EEXIST:  # stored again meanwhile: that copy stays
                raise
        os.unlink(parked)
        return False
    os.unlink(parked)
    return True


def _unlink_aliases(root: Path, inodes: set[int]) -> None:
    """Remove the SHA-1 names of removed blobs (scandir knows inodes without a stat)."""
    base = root / SHA1
    if not base.is_dir():
        return
    for fanout in os.scandir(base):
        if not fanout.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(fanout.path):
            if entry.inode() in inodes:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
