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
    """Remove what a pass that died left in the trash, SHA-1 names too; return how many files."""
    trash = trash_dir(root)
    trash.mkdir(parents=True, exist_ok=True)
    parked: list[tuple[Path, Candidate | None]] = [(Path(e.path), None) for e in os.scandir(trash)]
    return len(_remove(root, parked))


def _remove(root: Path, parked: list[tuple[Path, Candidate | None]]) -> list[Candidate | None]:
    """Remove parked files and their SHA-1 names; return the items removed.

    The names go first, while the parked files hold their inodes (no new blob can
    take one meanwhile). A pass killed in between leaves the files in the trash, so
    the next start still finds their SHA-1 names: unlinked last, they stayed for good,
    bytes the budget never counts. A file touched since it was parked (a re-upload by
    its SHA-1 name, told it is stored) goes back instead.
    """
    inodes, removed, kept = set(), [], []
    for path, item in parked:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if item is not None and st.st_mtime_ns != item.mtime_ns:
            kept.append((path, item))
            continue
        removed.append((path, item))
        if st.st_nlink > 1:
            inodes.add(st.st_ino)
    if inodes:
        _unlink_aliases(root, inodes)
    for path, item in kept:
        assert item is not None
        _put_back(path, root / item.relpath)
    for path, _ in removed:
        path.unlink(missing_ok=True)
    return [item for _, item in removed]


def _put_back(parked: Path, home: Path) -> None:
    try:
        os.link(parked, home)
    except OSError as exc:
        if exc.errno != errno.EEXIST:  # stored again meanwhile: that copy stays
            raise
    os.unlink(parked)


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
    parked: list[tuple[Path, Candidate | None]] = []
    trash = trash_dir(root)
    for item in found.oldest:
        if remaining <= target_bytes:
            break
        path = park(root, trash, item)
        if path is not None:
            parked.append((path, item))
            remaining -= item.size
    removed = [item for item in _remove(root, parked) if item is not None]
    freed = sum(item.size for item in removed)
    acs = sum(1 for item in removed if item.relpath.startswith("ac/"))
    blobs = len(removed) - acs
    blob_bytes = sum(item.size for item in removed if not item.relpath.startswith("ac/"))
    remaining = found.bytes - freed
    result = PassResult(
        started, time.perf_counter() - t0, found.files, found.bytes, remaining,
        target_bytes, blobs, acs, freed, blob_bytes, remaining > target_bytes,
    )  # fmt: skip
    log.info("eviction pass", extra=result.to_json())
    return result


def park(root: Path, trash: Path, item: Candidate) -> Path | None:
    """Move item to the trash unless it was touched since the scan; return where, or None."""
    path = root / item.relpath
    parked = trash / item.relpath.replace("/", "-")
    try:
        os.rename(path, parked)
    except FileNotFoundError:
        return None
    try:
        touched = os.lstat(parked).st_mtime_ns != item.mtime_ns
    except FileNotFoundError:
        return None
    if touched:
        _put_back(parked, path)  # used since the scan: it stays
        return None
    return parked


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
