"""ActionCache: build tools' action results, opaque bytes under a key that is not their hash.

Bazel's HTTP remote cache keeps an ``ActionResult`` under ``/ac/<sha256 of the action>``.
The key names the action, not the bytes, so nothing can be verified and an entry may be
overwritten (a rebuilt action, a flaky one). Entries live in ``<root>/ac/ab/<hex>``.
A write streams into a temp file in ``<root>/tmp/`` (swept at start like uploads), is
fsynced, then replaces the entry with ``os.replace`` and the directory is fsynced: a reader
opens either the old whole entry or the new whole entry, never a mix; the last write wins.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from cascommon.digest import Digest
from casserver.blobfile import BlobFile, fsync_dir
from casserver.metrics import Metrics
from casserver.storage import BlobStore, storage_error
from casserver.upload import Body

log = logging.getLogger(__name__)

AC_DIR: Final = "ac"


class ActionCache:
    """ActionCache reads and atomically replaces entries next to a BlobStore's blobs."""

    def __init__(self, store: BlobStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics
        self.root = store.root / AC_DIR
        self.root.mkdir(exist_ok=True)

    def path(self, key: Digest) -> Path:
        """Path is where key's entry lives; only validated hex ever reaches it."""
        return self.root / key.hex[:2] / key.hex

    def size(self, key: Digest) -> int | None:
        """Size returns the entry's size in bytes, or None when it is absent."""
        try:
            size = os.stat(self.path(key)).st_size
        except FileNotFoundError:
            self._metrics.action_cache.labels("head", "miss").inc()
            return None
        self._metrics.action_cache.labels("head", "hit").inc()
        return size

    def open(self, key: Digest) -> BlobFile | None:
        """Open returns the entry ready to read, or None; a later write does not change it."""
        try:
            entry = BlobFile(os.open(self.path(key), os.O_RDONLY))
        except FileNotFoundError:
            self._metrics.action_cache.labels("get", "miss").inc()
            return None
        self._metrics.action_cache.labels("get", "hit").inc()
        return entry

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
            log.info("action result stored", extra={"key": key.hex, "size": temp.size})
            return temp.size
