"""JournalReader: the evictor's view of what every process stored since its last scan."""

from __future__ import annotations

import os
import time
from pathlib import Path

from casserver.recency import journal_dir

# An idle segment older than this whose lines were read is removed after a scan.
IDLE_S = 5.0


class JournalReader:
    """JournalReader adds up the sizes appended to every journal segment since it last read."""

    def __init__(self, root: Path) -> None:
        self._dir = journal_dir(root)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._offsets: dict[str, int] = {}

    def skip(self) -> None:
        """Treat everything written so far as read (a scan is about to count it)."""
        for entry in os.scandir(self._dir):
            self._offsets[entry.name] = entry.stat().st_size

    def read(self) -> int:
        """Return the bytes stored according to the lines appended since the last read."""
        total = 0
        for entry in os.scandir(self._dir):
            name = entry.name
            offset = self._offsets.get(name, 0)
            try:
                if entry.stat().st_size <= offset:
                    continue  # nothing new: a stat, not an open, every tick
                with open(entry.path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            for line in data[:end].splitlines():
                _, _, size = line.rpartition(b" ")
                if size.isdigit():
                    total += int(size)
            self._offsets[name] = offset + end
        return total

    def prune(self, before: float) -> None:
        """Remove segments read to their end and not written since before - IDLE_S."""
        horizon = min(before, time.time()) - IDLE_S
        for entry in os.scandir(self._dir):
            st = entry.stat()
            if st.st_mtime < horizon and self._offsets.get(entry.name) == st.st_size:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass
                self._offsets.pop(entry.name, None)
