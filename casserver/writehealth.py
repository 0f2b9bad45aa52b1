"""WriteHealth: whether uploads can be written now, told by a metric, a log line and /readyz.

A volume that fails writes (wiped, read-only, gone) while stored blobs are still served
must not take the replica out: readiness stays about reads, and this is reported beside
it. Writes recover by themselves (``BlobStore`` re-creates its layout on demand); the
first success after a failure says so once.
"""

from __future__ import annotations

import logging
import threading

from casserver.metrics import Metrics
from casserver.storage import BlobStore

log = logging.getLogger(__name__)


class WriteHealth:
    """WriteHealth records write outcomes and logs each change between working and failing."""

    def __init__(self, store: BlobStore, metrics: Metrics) -> None:
        self._store = store
        self._gauge = metrics.storage_writable
        self._failing: str | None = None
        self._lock = threading.Lock()

    def ok(self) -> None:
        """Ok records a write that succeeded."""
        if self._failing is None:
            return  # the common case: no lock, no write to the gauge
        with self._lock:
            if self._failing is not None:
                self._failing = None
                self._gauge.set(1)
                log.info("storage writes recovered", extra={"storage": str(self._store.root)})

    def failed(self, reason: str) -> None:
        """Failed records a write that the volume refused (not a client's fault), and why."""
        with self._lock:
            if self._failing is None:
                log.error(
                    "storage writes failing",
                    extra={"storage": str(self._store.root), "error": reason},
                )
            self._failing = reason
            self._gauge.set(0)

    def check(self) -> str | None:
        """Check tries a write now (re-creating a wiped layout): None, or why it failed."""
        reason = self._store.check_writable()
        if reason is None:
            self.ok()
        else:
            self.failed(reason)
        return reason
