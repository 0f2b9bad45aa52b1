"""Raw file handles for blobs: a temp file being written and a stored blob being read."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

_NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


class UnreadableBlob(OSError):
    """UnreadableBlob is raised for a stored file that exists but cannot be read (answered 500)."""


def no_space(exc: OSError) -> bool:
    """No_space reports whether exc means the volume or the quota is full."""
    return exc.errno in _NO_SPACE


def fsync_dir(path: Path) -> None:
    """Fsync_dir makes the directory's entries (a new link, a new subdirectory) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TempBlob:
    """TempBlob is an upload's temp file: written, synced, then linked in or removed."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd: int | None = fd
        self.path = path
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        """Write appends data; os.write may write less than asked, so it loops."""
        assert self.fd is not None, "write after abort"
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(data)

    def sync(self) -> None:
        """Sync flushes the file's data and size to the disk."""
        assert self.fd is not None, "sync after abort"
        os.fsync(self.fd)

    def keep(self) -> None:
        """Keep closes the file and leaves it: it was renamed into place, not removed."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def abort(self) -> None:
        """Abort closes and removes the temp file; calling it twice is harmless."""
        if self.fd is None:
            return
        os.close(self.fd)
        self.fd = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> TempBlob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()


class BlobFile:
    """BlobFile is an open stored blob, optionally narrowed to a byte window.

    It has ``fileno()`` and its descriptor's offset is the window's start, so
    gunicorn's ``wsgi.file_wrapper`` sends exactly ``Content-Length`` bytes from
    there with sendfile; ``read()`` stops at the window's end for servers without it.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        st = os.fstat(fd)
        self.regular = stat.S_ISREG(st.st_mode)
        self.size = st.st_size
        self.remaining = self.size

    def window(self, start: int, length: int) -> BlobFile:
        """Window narrows reads to length bytes from start and returns self."""
        os.lseek(self.fileno(), start, os.SEEK_SET)
        self.remaining = length
        return self

    def fileno(self) -> int:
        """Fileno returns the descriptor, for sendfile."""
        if self._fd is None:
            raise ValueError("I/O operation on closed blob file")
        return self._fd

    def read(self, size: int | None = -1, /) -> bytes:
        """Read returns up to size bytes of the window (all that is left when size < 0)."""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = os.read(self.fileno(), size) if size else b""
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        """Close releases the descriptor; calling it twice is harmless."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BlobFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
