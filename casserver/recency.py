"""Recency: what one process read and stored, handed to the evictor in batches.

A read must not cost a write, so a GET only adds its file to a set in memory. A thread
flushes the set every ``FLUSH_S``: it sets each file's modification time to now
(``os.utime``, a metadata update; the file's bytes never change), so recency lives in
the store itself, survives restarts and is seen by every process and replica on the
volume. A file this process touched less than ``retouch_s`` ago is not touched again,
which bounds the writes to one per blob per ``retouch_s`` however hot it is. Each new
blob and action result is appended at once, with its size, to this process's journal in
``<root>/evict/journal/`` (one small write next to a commit's fsyncs), from which the
evictor learns within ``evictor.TICK_S`` how full the store is between its scans.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

EVICT_DIR: Final = "evict"
JOURNAL_DIR: Final = "journal"
FLUSH_S: Final = 0.05
# Hot blobs are touched again at most this often (a tenth of the grace, at most a minute).
MAX_RETOUCH_S: Final = 60.0
# A journal segment is left for a new one past this size; the evictor removes old ones.
SEGMENT_BYTES: Final = 4 << 20


def retouch_s(grace_s: float) -> float:
    """Return how long a process waits before touching a file it touched already."""
    return min(grace_s / 10, MAX_RETOUCH_S)


def journal_dir(root: Path) -> Path:
    """Return the directory where every process appends the blobs it stored."""
    return root / EVICT_DIR / JOURNAL_DIR


class Recency:
    """Recency records this process's reads and commits; a daemon thread flushes them."""

    def __init__(self, root: Path, grace_s: float) -> None:
        self._journal_dir = journal_dir(root)
        self._journal_dir.mkdir(parents=True, exist_ok=True)
        self._retouch_s = retouch_s(grace_s)
        self._touched: set[str] = set()
        self._journal_lock = threading.Lock()
        self._last_touch: dict[str, float] = {}
        self._segment = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._seq = 0
        self._written = 0
        self._thread: threading.Thread | None = None

    def read(self, file: str) -> None:
        """Note that file was read (the hot path: a set insertion, nothing else)."""
        self._touched.add(file)

    def stored(self, relpath: str, size: int) -> None:
        """Note in the journal that relpath (``sha256/ab/...``, ``ac/ab/...``) holds size bytes."""
        data = f"{relpath} {size}\n".encode()
        try:
            with self._journal_lock:
                self._append(data)
        except OSError as exc:  # the blob is stored all the same; the next scan counts it
            log.warning("journal write failed", extra={"error": str(exc)})

    def start(self) -> None:
        """Start the flushing thread in this process (call it after any fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cas-recency", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_S)
            try:
                self.flush()
            except Exception:  # never let a full disk or a bug stop recording for good
                log.exception("recency flush failed")

    def flush(self) -> None:
        """Touch the files read since the last flush."""
        # Swapping is atomic under the GIL; an insert racing with it may be lost, and the
        # blob's next read records it again.
        touched, self._touched = self._touched, set()
        now = time.time()
        last, horizon = self._last_touch, now - self._retouch_s
        for file in touched:
            if last.get(file, 0.0) > horizon:
                continue
            try:
                os.utime(file)
            except FileNotFoundError:
                continue  # evicted meanwhile
            last[file] = now
        if len(last) > 100_000 or (touched and len(last) > 4 * len(touched)):
            self._last_touch = {f: t for f, t in last.items() if t > horizon}

    def _append(self, data: bytes) -> None:
        if self._written > SEGMENT_BYTES:
            self._seq, self._written = self._seq + 1, 0
        path = self._journal_dir / f"{self._segment}.{self._seq}.log"
        # Opened per batch: the evictor may remove an idle segment, and then this makes it anew.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self._written += len(data)
