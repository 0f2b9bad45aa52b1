"""BlobStore: durable blobs on one volume, named only by their digests.

Layout under the root::

    tmp/                      uploads in progress (same volume, so links are atomic),
                              one locked workspace per process (workspace.py)
    sha256/ab/abcdef...       every blob, by its SHA-256
    sha1/12/1234ab...         hard links for blobs uploaded by their SHA-1

A blob appears under its name only through ``os.link`` of a complete, fsynced temp
file, followed by an fsync of the directory, so a crash leaves either the whole blob
or nothing. ``link`` never replaces, so a stored blob is never rewritten; the one
exception is a file found damaged (not the size recorded at commit), which a verified
upload of the same blob replaces by an atomic rename. That holds
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
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cascommon.digest import SHA1, SHA256, Digest
from casserver import blobsize
from casserver.blobfile import BlobFile, TempBlob, UnreadableBlob, fsync_dir, no_space
from casserver.blobsize import DamagedBlob
from casserver.workspace import Workspace

log = logging.getLogger(__name__)

TMP_DIR: Final = "tmp"
# Non-blocking: a FIFO put under a blob's name must not hang a thread.
# No symlinks (casserver never makes one; what it points at carries no recorded size).
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW


@dataclass(frozen=True, slots=True)
class StoredFile:
    """StoredFile is the file under a blob's name: its size, and whether that is as committed."""

    size: int
    intact: bool


class StorageFull(OSError):
    """StorageFull is raised when the volume has no room for an upload."""


class BlobStore:
    """BlobStore stores, finds and opens blobs under root."""

    def __init__(self, root: Path, *, min_free_bytes: int = 0) -> None:
        self.root = root
        self.tmp_dir = root / TMP_DIR
        self.min_free_bytes = min_free_bytes
        self._durable_dirs: set[Path] = set()
        self._warned_xattrs = False
        self._workspace = Workspace(self.tmp_dir)
        for d in (self.tmp_dir, root / SHA256, root / SHA1):
            d.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        """Path is where digest's blob lives; only validated hex ever reaches it."""
        return self.root / digest.algorithm / digest.hex[:2] / digest.hex

    def size(self, digest: Digest) -> int | None:
        """Size returns the stored blob's checked size in bytes, or None when it is absent."""
        blob = self.open(digest)
        if blob is None:
            return None
        with blob:
            return blob.size

    def stored(self, digest: Digest) -> StoredFile | None:
        """Stored describes the file under digest's name as it is, damaged or not; None: absent."""
        try:
            fd = self._open_fd(digest)
        except UnreadableBlob as exc:
            if exc.errno != errno.ELOOP:
                raise
            return StoredFile(0, False)  # a symlink: a verified upload replaces it
        if fd is None:
            return None
        try:
            return StoredFile(os.fstat(fd).st_size, blobsize.intact(fd))
        finally:
            os.close(fd)

    def touch(self, digest: Digest) -> bool:
        """Mark digest's blob as used now (see ``recency``); False when it is absent."""
        try:
            os.utime(self.path(digest))
        except FileNotFoundError:
            return False
        return True

    def open(self, digest: Digest) -> BlobFile | None:
        """Open returns the blob ready to read, or None when it is absent.

        It raises DamagedBlob or UnreadableBlob before any header is sent, or the read
        would fail (or lie) mid-answer.
        """
        fd = self._open_fd(digest)
        if fd is None:
            return None
        try:
            blobsize.blob_size(fd, digest.hex)
            return BlobFile(fd)
        except OSError as exc:
            os.close(fd)
            if isinstance(exc, UnreadableBlob | DamagedBlob):
                raise
            raise UnreadableBlob(exc.errno, f"stored file of {digest.hex}: {exc.strerror}") from exc

    def _open_fd(self, digest: Digest) -> int | None:
        try:
            return os.open(self.path(digest), _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise UnreadableBlob(exc.errno, f"stored file of {digest.hex}: {exc.strerror}") from exc

    def free_bytes(self) -> int:
        """Free_bytes is the space an unprivileged writer may still use on the volume."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def reserve(self, incoming_bytes: int) -> None:
        """Reserve raises StorageFull unless incoming_bytes fit above the free-space floor."""
        if self.free_bytes() - incoming_bytes < self.min_free_bytes:
            raise StorageFull(errno.ENOSPC, "not enough free space on the storage volume")

    def create_temp(self) -> TempBlob:
        """Create_temp opens a new temp file for an upload on the storage volume.

        A workspace that vanished (the volume wiped and re-created under a running
        server) is claimed anew, so writes recover by themselves.
        """
        try:
            try:
                fd, name = tempfile.mkstemp(prefix="upload-", dir=self._workspace.directory())
            except FileNotFoundError:
                workspace = self._workspace.reclaim()
                fd, name = tempfile.mkstemp(prefix="upload-", dir=workspace)
        except OSError as exc:
            raise storage_error(exc) from exc
        return TempBlob(fd, Path(name))

    def commit(
        self,
        temp: TempBlob,
        sha256_hex: str,
        aliases: Iterable[Digest] = (),
        repairs: Iterable[Digest] = (),
    ) -> frozenset[str]:
        """Commit links a verified temp file in under its SHA-256 and aliases, then removes it.

        It returns the algorithms whose names are new or were repaired. A name already
        holding a file of another size (damaged: the temp file was verified) is replaced
        atomically by rename; so is each of repairs, which is never created. The size
        is recorded on the file first (``blobsize``). The temp file is gone afterwards
        whatever happens.
        """
        try:
            assert temp.fd is not None, "commit after abort"
            if not blobsize.record(temp.fd, temp.size) and not self._warned_xattrs:
                self._warned_xattrs = True
                log.warning(
                    "storage keeps no user xattrs: sizes are not checked on serve, run verify",
                    extra={"storage": str(self.root)},
                )
            temp.sync()
            self.reserve(0)
            blob = self.path(Digest(SHA256, sha256_hex))
            new = {SHA256} if self._link(temp, temp.path, blob, True) else set()
            # Other names link the stored blob, not the temp file: a second copy would be
            # bytes the budget never counts and an eviction of the blob never removes.
            named = [(d, True) for d in aliases] + [(d, False) for d in repairs]
            for digest, create in named:
                if self._link(temp, blob, self.path(digest), create):
                    new.add(digest.algorithm)
            return frozenset(new)
        except OSError as exc:
            raise storage_error(exc) from exc
        finally:
            temp.abort()

    def ensure_dir(self, fanout: Path) -> None:
        """Ensure_dir makes a fan-out directory exist durably before an entry goes in it."""
        if fanout not in self._durable_dirs:
            # A fan-out directory another thread or worker just made may not be durable
            # yet: fsync its parent once per process before acknowledging a blob in it.
            # Never the root itself: a missing root is an unmounted volume, not ours to make.
            fanout.parent.mkdir(exist_ok=True)
            fanout.mkdir(exist_ok=True)
            fsync_dir(fanout.parent)
            self._durable_dirs.add(fanout)

    def _link(
        self, temp: TempBlob, source: Path, target: Path, create: bool, retry: bool = True
    ) -> bool:
        """Name source's verified bytes target (temp's when source is gone: evicted meanwhile)."""
        if source != temp.path and not source.exists():
            source = temp.path
        try:
            if not create:
                return target.exists() and self._repair(temp, source, target)
            self.ensure_dir(target.parent)
            try:
                os.link(source, target)
            except FileExistsError:
                # Stored before, or by a concurrent upload of the same bytes; or damaged.
                return self._repair(temp, source, target)
        except FileNotFoundError:
            if not (create and retry):
                raise
            # The volume was wiped under us: fan-out directories known durable are gone.
            self._durable_dirs.clear()
            return self._link(temp, temp.path, target, create, retry=False)
        fsync_dir(target.parent)
        return True

    def _repair(self, temp: TempBlob, source: Path, target: Path) -> bool:
        """Replace target by source (temp's verified bytes) when its size says it is damaged."""
        try:
            # The same size as verified bytes: today's answer stands, unless the size
            # recorded on it is another (every serve refuses it: only a rewrite repairs it).
            st = os.lstat(target)  # a symlink is never kept
            if (
                stat.S_ISREG(st.st_mode)
                and st.st_size == temp.size
                and blobsize.recorded(str(target)) in (None, temp.size)
            ):
                return False
        except FileNotFoundError:
            return False
        side = temp.path.with_name(temp.path.name + ".repair")
        os.link(source, side)
        try:
            os.replace(side, target)  # atomic: readers see the old file or the new one
        finally:
            side.unlink(missing_ok=True)
        fsync_dir(target.parent)
        log.warning("damaged blob replaced by a verified upload", extra={"path": str(target)})
        return True

    def sweep(self) -> int:
        """Sweep removes temp files of dead processes, never a live one's, on any host."""
        return self._workspace.sweep()

    def usage(self) -> tuple[int, int]:
        """Usage counts blobs and their bytes (SHA-1 names are links, not extra blobs).

        Only regular files in real fan-out directories count, as the evictor's scan does:
        a dangling symlink under ``sha256/`` stopped the server at start, and a linked
        directory was walked as if it were the store's.
        """
        blobs = total = 0
        for fanout in os.scandir(self.root / SHA256):
            if fanout.is_dir(follow_symlinks=False):
                for entry in os.scandir(fanout.path):
                    try:
                        if entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                            blobs += 1
                    except FileNotFoundError:
                        pass  # removed while we walked
        return blobs, total

    def check_writable(self) -> str | None:
        """Check_writable returns None if an upload could be written now, else why not.

        It re-creates a wiped layout (never the root), as the next upload would.
        """
        try:
            for d in (self.tmp_dir, self.root / SHA256, self.root / SHA1):
                d.mkdir(exist_ok=True)
            self.create_temp().abort()
            return None
        except OSError as exc:
            return f"storage {self.root} is not writable: {exc.strerror or exc}"

    def check_readable(self) -> str | None:
        """Check_readable returns None if stored blobs can be served, else why not."""
        try:
            os.listdir(self.root)  # its layout is re-created on demand; the root is the volume
            return None
        except OSError as exc:
            return f"storage {self.root} is not readable: {exc.strerror or exc}"


def storage_error(exc: OSError) -> OSError:
    """Storage_error is StorageFull for a full volume or quota, else exc itself."""
    return StorageFull(exc.errno, "storage volume is full") if no_space(exc) else exc
