"""Each blob's size as committed, kept on its inode, and the check every serve makes against it.

The size is written as the extended attribute ``user.cas.size`` on the temp file before
it is linked in, so every name of the blob (its SHA-1 link too) carries it, it survives
restarts, and every worker and every replica on a shared volume reads the same value
with one ``fgetxattr`` on a descriptor it has open anyway. A file whose length differs
from it was changed behind casserver's back (truncated, appended to): it is never served.

A file system without user xattrs (some NFS and FUSE mounts) cannot record it: commits
still succeed, a serve then has nothing to compare with, and ``casserver verify`` (which
hashes the whole file) is the only check. So are files committed before the attribute
existed, until ``verify`` records theirs.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from typing import Final

from casserver.blobfile import UnreadableBlob

log = logging.getLogger(__name__)

XATTR: Final = "user.cas.size"
# What recorded() returns for an attribute that is not a size: matches no file's length.
UNREADABLE_RECORD: Final = -1
# Errors that mean "this file system (or file) keeps no such attribute", not damage.
_UNSUPPORTED: Final = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA, errno.EPERM})


class DamagedBlob(OSError):
    """DamagedBlob is raised for a stored file that is no longer its blob (answered 500)."""

    def __init__(self, detail: str, reason: str = "size") -> None:
        super().__init__(errno.EIO, detail)
        self.reason = reason


def record(fd: int, size: int) -> bool:
    """Record writes size on the open file; False when the file system keeps no user xattrs."""
    try:
        os.setxattr(fd, XATTR, str(size).encode())
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise
    return True


def recorded(fd: int | str) -> int | None:
    """Recorded returns the size written at commit (fd or path), or None when there is none."""
    try:
        raw = os.getxattr(fd, XATTR)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    try:
        return int(raw)
    except ValueError:
        # Not a size casserver wrote: no file has it, so the file is refused and repaired
        # (a missing record would let any change through unchecked).
        return UNREADABLE_RECORD


def check(fd: int, size: int, name: str) -> None:
    """Check raises DamagedBlob when the open file's size is not the one recorded at commit."""
    expected = recorded(fd)
    if expected is not None and expected != size:
        raise DamagedBlob(f"stored file of {name} has {size} bytes, committed with {expected}")


def blob_size(fd: int, name: str) -> int:
    """Blob_size is the open stored file's size, checked against the size committed."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        # Not something casserver wrote (a directory, a device): refused before any header.
        raise UnreadableBlob(errno.EISDIR, f"stored file of {name} is not a regular file")
    check(fd, st.st_size, name)
    return st.st_size


def intact(fd: int) -> bool:
    """Intact says whether the open file has the size recorded at commit (False: unknown)."""
    return recorded(fd) == os.fstat(fd).st_size
