"""BlobStore: durable blobs on one volume, named only by their digests.

Layout under the root::

    tmp/                      uploads in progress (same volume, so links are atomic),
                              one locked workspace per process (workspace.py)
    sha256/ab/abcdef...       every blob, by its SHA-256
    sha1/12/1234ab...         hard links for blobs uploaded by their SHA-1

A blob appears under its name only through ``os.link`` of a complete, fsynced temp
file, followed by an fsync of the directory, so a crash leaves either the whole blob
or nothing. ``link`` never replaces, so a stored blob is never rewritten. That holds
for several servers on one shared volume too: link is atomic on the file server, the
loser of two links of one name gets EEXIST (the blob is there), and NFS and CephFS make
a link durable before they answer it.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from cascommon.digest import SHA1, SHA256, Digest
from casserver.blobfile import BlobFile, TempBlob, fsync_dir, no_space
from casserver.workspace import Workspace

log = logging.getLogger(__name__)

TMP_DIR: Final = "tmp"


class StorageFull(OSError):
    """StorageFull is raised when the volume has no room for an upload."""


class BlobStore:
    """BlobStore stores, finds and opens blobs under root."""

    def __init__(self, root: Path, *, min_free_bytes: int = 0) -> None:
        self.root = root
        self.tmp_dir = root / TMP_DIR
        self.min_free_bytes = min_free_bytes
        self._durable_dirs: set[Path] = set()
        self._workspace = Workspace(self.tmp_dir)
        for d in (self.tmp_dir, root / SHA256, root / SHA1):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        """Path is where digest's blob lives; only validated hex ever reaches it."""
        return self.root / digest.algorithm / digest.hex[:2] / digest.hex

    def size(self, digest: Digest) -> int | None:
        """Size returns the stored blob's size in bytes, or None when it is absent."""
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            raise _not_a_file()
        return st.st_size

    def touch(self, digest: Digest) -> bool:
        """Mark digest's blob as used now (see ``recency``); False when it is absent."""
        try:
            os.utime(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def open(self, digest: Digest) -> BlobFile | None:
        """Open returns the blob ready to read, or None when it is absent."""
        try:
            fd = os.open(self.path(digest), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            blob = BlobFile(fd)
        except BaseException:
            os.close(fd)
            raise
        if not blob.regular:
            # Not something casserver wrote (a directory, a device): refuse it before any
            # header is sent, or the read fails mid-answer and the client gets a cut body.
            blob.close()
            raise _not_a_file()
        return blob

    def free_bytes(self) -> int:
        """Free_bytes is the space an unprivileged writer may still use on the volume."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def reserve(self, incoming_bytes: int) -> None:
        """Reserve raises StorageFull unless incoming_bytes fit above the free-space floor."""
        if self.free_bytes() - incoming_bytes < self.min_free_bytes:
            raise StorageFull(errno.ENOSPC, "not enough free space on the storage volume")

    def create_temp(self) -> TempBlob:
        """Create_temp opens a new temp file for an upload on the storage volume."""
        try:
            fd, name = tempfile.mkstemp(prefix="upload-", dir=self._workspace.directory())
        except OSError as exc:
            raise storage_error(exc) from exc
        return TempBlob(fd, Path(name))

    def commit(
        self, temp: TempBlob, sha256_hex: str, aliases: Iterable[Digest] = ()
    ) -> frozenset[str]:
        """Commit links a verified temp file in under its SHA-256 and aliases, then removes it.

        It returns the algorithms whose names are new. The temp file is gone afterwards
        whatever happens.
        """
        try:
            temp.sync()
            self.reserve(0)
            return frozenset(
                digest.algorithm
                for digest in (Digest(SHA256, sha256_hex), *aliases)
                if self._link(temp.path, self.path(digest))
            )
        except OSError as exc:
            raise storage_error(exc) from exc
        finally:
            temp.abort()

    def ensure_dir(self, fanout: Path) -> None:
        """Ensure_dir makes a fan-out directory exist durably before an entry goes in it."""
        if fanout not in self._durable_dirs:
            # A fan-out directory another thread or worker just made may not be durable
            # yet: fsync its parent once per process before acknowledging a blob in it.
            fanout.mkdir(exist_ok=True)
            fsync_dir(fanout.parent)
            self._durable_dirs.add(fanout)

    def _link(self, source: Path, target: Path) -> bool:
        self.ensure_dir(target.parent)
        try:
            os.link(source, target)
        except FileExistsError:
            return False  # stored before, or by a concurrent upload of the same bytes
        fsync_dir(target.parent)
        return True

    def sweep(self) -> int:
        """Sweep removes temp files of dead processes, never a live one's, on any host."""
        return self._workspace.sweep()

    def usage(self) -> tuple[int, int]:
        """Usage counts blobs and their bytes (SHA-1 names are links, not extra blobs)."""
        blobs = total = 0
        for fanout in os.scandir(self.root / SHA256):
            if fanout.is_dir():
                for entry in os.scandir(fanout.path):
                    blobs += 1
                    total += entry.stat().st_size
        return blobs, total

    def check_writable(self) -> str | None:
        """Check_writable returns None if a file can be created on the volume, else why not."""
        try:
            with tempfile.TemporaryFile(prefix="ready-", dir=self.tmp_dir):
                return None
        except OSError as exc:
            return f"storage {self.root} is not writable: {exc.strerror or exc}"


def _not_a_file() -> OSError:
    # A blob's path holds something casserver never writes there (a directory, a device).
    return OSError(errno.EISDIR, "the blob's path is not a regular file")


def storage_error(exc: OSError) -> OSError:
    """Storage_error is StorageFull for a full volume or quota, else exc itself."""
    return StorageFull(exc.errno, "storage volume is full") if no_space(exc) else exc
