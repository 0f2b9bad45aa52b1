"""An exclusive flock taken without waiting: one process of many does a job."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def try_lock(path: Path) -> int | None:
    """Return a descriptor holding path's lock (made if missing), or None if another holds it.

    The lock lasts as long as the descriptor: close it, or exit, to let another take it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
