"""ActionCache: build tools' action results, opaque bytes under a key that is not their hash.

Bazel's HTTP remote cache keeps an ``ActionResult`` under ``/ac/<sha256 of the action>``.
The key names the action, not the bytes, so nothing can be verified and an entry may be
overwritten (a rebuilt action, a flaky one). Entries live in ``<root>/ac/ab/<hex>``.
A write streams into a temp file in ``<root>/tmp/`` (swept at start like uploads), is
fsynced, then replaces the entry with ``os.replace`` and the directory is fsynced: a reader
opens either the old whole entry or the new whole entry, never a mix; the last write wins.

An entry that parses as a Bazel ``ActionResult`` is only served while every blob it names
is stored (as bazel-remote does): otherwise it is a miss, and Bazel runs the action again
instead of failing on a missing blob. A hit counts as a use of those blobs (``recency``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from cascommon.digest import Digest
from casserver.actionresult import MAX_TREE_BYTES, NotAnActionResult, TreeTooBig, named_blobs
from casserver.blobfile import BlobFile, fsync_dir
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.storage import BlobStore, storage_error
from casserver.upload import Body

log = logging.getLogger(__name__)

AC_DIR: Final = "ac"


class ActionCache:
    """ActionCache reads and atomically replaces entries next to a BlobStore's blobs."""

    def __init__(self, store: BlobStore, metrics: Metrics, recency: Recency | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._recency = recency
        self.root = store.root / AC_DIR
        self.root.mkdir(exist_ok=True)

    def path(self, key: Digest) -> Path:
        """Path is where key's entry lives; only validated hex ever reaches it."""
        return self.root / key.hex[:2] / key.hex

    def size(self, key: Digest) -> int | None:
        """Size returns the entry's size in bytes, or None when it is absent or incomplete."""
        entry = self._open(key, "head")
        if entry is None:
            return None
        entry.close()
        return entry.size

    def open(self, key: Digest) -> BlobFile | None:
        """Open returns the entry ready to read, or None; a later write does not change it."""
        return self._open(key, "get")

    def _open(self, key: Digest, operation: str) -> BlobFile | None:
        path = self.path(key)
        try:
            entry = BlobFile(os.open(path, os.O_RDONLY))
        except FileNotFoundError:
            self._metrics.action_cache.labels(operation, "miss").inc()
            return None
        try:
            complete = self._complete(os.pread(entry.fileno(), entry.size, 0))
        except BaseException:
            entry.close()
            raise
        if not complete:
            entry.close()
            self._metrics.action_cache.labels(operation, "incomplete").inc()
            return None
        self._metrics.action_cache.labels(operation, "hit").inc()
        if self._recency is not None:
            self._recency.read(str(path))
        return entry

    def _complete(self, data: bytes) -> bool:
        """Return False when data is an ActionResult naming a blob that is not stored."""
        try:
            names = named_blobs(data, self._read_blob)
        except NotAnActionResult:
            return True  # not Bazel's: served as it is
        if names is None:
            return False
        paths = [self._store.path(d) for d in names]
        if not all(p.is_file() for p in paths):
            return False
        if self._recency is not None:
            for p in paths:
                self._recency.read(str(p))
        return True

    def _read_blob(self, digest: Digest) -> bytes | None:
        blob = self._store.open(digest)
        if blob is None:
            return None
        with blob:
            if blob.size > MAX_TREE_BYTES:
                raise TreeTooBig(f"tree {digest.hex} is {blob.size} bytes")
            return blob.read()

    def put(self, key: Digest, body: Body) -> int:
        """Put streams body in as key's entry, replacing any entry; it returns the size.

        Nothing is visible unless the whole body arrived and is on the disk.
        """
        self._store.reserve(body.expected_bytes)
        temp = self._store.create_temp()
        with temp:
            try:
                for chunk in body.chunks:
                    temp.write(chunk)
                temp.sync()
                self._store.reserve(0)
                target = self.path(key)
                self._store.ensure_dir(target.parent)
                os.replace(temp.path, target)
                # The temp name is free again: removing it later could hit another upload.
                temp.keep()
                fsync_dir(target.parent)
            except OSError as exc:
                raise storage_error(exc) from exc
            finally:
                self._metrics.received_bytes.inc(temp.size)
            self._metrics.action_cache.labels("put", "stored").inc()
            if self._recency is not None:
                self._recency.stored(f"{AC_DIR}/{key.hex[:2]}/{key.hex}", temp.size)
            log.info("action result stored", extra={"key": key.hex, "size": temp.size})
            return temp.size
