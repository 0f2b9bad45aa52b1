"""UploadSlots: a per-process cap on uploads in progress, so uploads never take every thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooManyUploads(RuntimeError):
    """TooManyUploads is raised when every upload slot of this process is taken (503)."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(f"all {limit} upload slots of this process are busy; retry later")
        self.retry_after_s = retry_after_s


class UploadSlots:
    """UploadSlots lets at most limit uploads run at once and refuses the next at once."""

    def __init__(self, limit: int, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._free = threading.BoundedSemaphore(limit)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold takes a slot for the duration of the block, or raises TooManyUploads."""
        if not self._free.acquire(blocking=False):
            raise TooManyUploads(self.limit, self.retry_after_s)
        try:
            yield
        finally:
            self._free.release()
