"""Upload workspaces: one temp directory per live process, each held by a lock.

Several casservers may share one storage volume (replicas on a ReadWriteMany claim),
and each sweeps leftover temp files when it starts. A sweep must remove what dead
processes left and never what a live one is still writing. Layout under ``tmp/``::

    <host>-<pid>-<random>.lock   locked (flock) by its owner for the owner's whole life
    <host>-<pid>-<random>/       the owner's uploads in progress

A process that dies releases its locks, so a lock a sweep can take belongs to a dead
owner. flock is what the shared file systems carry between hosts: CephFS natively; a
Linux NFS client turns it into a whole-file POSIX lock, which NFSv4 keeps in its
protocol (NFSv3 through NLM: not with the ``nolock`` mount option). A host that dies
releases its locks when its lease expires, and only then are its uploads swept.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

LOCK_SUFFIX: Final = ".lock"
# Loose files directly in tmp/ come from the layout before workspaces (a rolling
# upgrade may still run it) or from a readiness check: removed once surely abandoned.
LOOSE_MAX_AGE_S: Final = 3600.0


class Workspace:
    """Workspace is this process's upload directory under tmp_dir, claimed on first use."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.owner: str | None = None
        self._lock_fd: int | None = None
        self._pid = 0

    def directory(self) -> Path:
        """Directory returns this process's workspace, claiming a new one after a fork."""
        if self.owner is None or self._pid != os.getpid():
            self._claim()
        assert self.owner is not None
        return self.tmp_dir / self.owner

    def reclaim(self) -> Path:
        """Reclaim claims a new workspace after this one vanished (its volume was wiped)."""
        if self._lock_fd is not None and self._pid == os.getpid():
            os.close(self._lock_fd)
        self.owner, self._lock_fd = None, None
        self.tmp_dir.mkdir(exist_ok=True)  # never the root: a missing root is no volume
        return self.directory()

    def _claim(self) -> None:
        while True:
            owner = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
            lock_path = self.tmp_dir / (owner + LOCK_SUFFIX)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # A sweep may have taken the fresh lock file and removed it before we
                # locked it; then it is no claim at all: start again under a new name.
                if _still_at(fd, lock_path):
                    break
            except BlockingIOError:
                pass  # a sweep holds it for a moment and will remove it
            os.close(fd)
        # The directory comes after the lock: a directory without one is never live.
        (self.tmp_dir / owner).mkdir()
        self.owner, self._lock_fd, self._pid = owner, fd, os.getpid()

    def sweep(self) -> int:
        """Sweep removes the temp files of dead owners and returns how many it removed."""
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            name = entry.name
            if name.endswith(LOCK_SUFFIX):
                if name[: -len(LOCK_SUFFIX)] != self.owner:
                    removed += self._reap(name[: -len(LOCK_SUFFIX)])
            elif entry.is_dir(follow_symlinks=False):
                # Its lock is gone only if a sweep stopped between the two removals.
                lock_gone = not (self.tmp_dir / (name + LOCK_SUFFIX)).exists()
                if name != self.owner and lock_gone:
                    removed += _remove_tree(Path(entry.path))
            elif time.time() - entry.stat().st_mtime > LOOSE_MAX_AGE_S:
                removed += _remove_file(Path(entry.path))
        return removed

    def _reap(self, owner: str) -> int:
        lock_path = self.tmp_dir / (owner + LOCK_SUFFIX)
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return 0  # another sweep got there first
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its owner is alive: its uploads stay
            if not _still_at(fd, lock_path):
                return 0
            removed = _remove_tree(self.tmp_dir / owner)
            _remove_file(lock_path)
            return removed
        finally:
            os.close(fd)


def _still_at(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _remove_file(path: Path) -> int:
    try:
        path.unlink()
        return 1
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("cannot remove temp file", extra={"path": str(path), "error": str(exc)})
        return 0


def _remove_tree(path: Path) -> int:
    try:
        count = sum(1 for _ in path.iterdir())
    except FileNotFoundError:
        return 0
    shutil.rmtree(path, ignore_errors=True)
    return count
