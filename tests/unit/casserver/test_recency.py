"""Recency and the journal: reads become touches in batches, commits become journal lines."""

from __future__ import annotations

import os
import time
from pathlib import Path

from casserver.journal import JournalReader
from casserver.recency import Recency, journal_dir


def test_reads_touch_files_at_the_flush_once_per_retouch_interval(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    os.utime(blob, (1000, 1000))
    recency = Recency(tmp_path, grace_s=600)  # touched again at most every 60 s
    recency.read(str(blob))
    assert blob.stat().st_mtime == 1000  # a read writes nothing
    recency.flush()
    assert blob.stat().st_mtime > time.time() - 60
    os.utime(blob, (1000, 1000))
    recency.read(str(blob))
    recency.flush()
    assert blob.stat().st_mtime == 1000  # touched a moment ago: not again
    recency.read(str(tmp_path / "evicted"))
    recency.flush()  # a file gone meanwhile is no error


def test_the_journal_adds_up_what_every_process_stored(tmp_path: Path) -> None:
    reader = JournalReader(tmp_path)
    first, second = Recency(tmp_path, grace_s=0), Recency(tmp_path, grace_s=0)
    first.stored("sha256/ab/" + "ab" * 32, 100)
    second.stored("ac/cd/" + "cd" * 32, 20)
    assert reader.read() == 120
    assert reader.read() == 0
    first.stored("sha256/ef/" + "ef" * 32, 5)
    partial = journal_dir(tmp_path) / "other.0.log"
    partial.write_bytes(b"sha256/01/x 7\nsha256/02/y 9")  # the last line still being written
    assert reader.read() == 12
    with open(partial, "ab") as f:
        f.write(b"\n")
    assert reader.read() == 9
    reader.skip()
    first.stored("sha256/ab/" + "ab" * 32, 1)
    assert reader.read() == 1


def test_prune_removes_only_read_idle_segments(tmp_path: Path) -> None:
    reader = JournalReader(tmp_path)
    Recency(tmp_path, grace_s=0).stored("sha256/ab/" + "ab" * 32, 100)
    (segment,) = journal_dir(tmp_path).iterdir()
    unread = journal_dir(tmp_path) / "unread.0.log"
    unread.write_bytes(b"sha256/01/x 7\n")
    reader.read()
    unread.write_bytes(b"sha256/01/x 7\nsha256/02/y 9\n")
    for path in (segment, unread):
        os.utime(path, (1000, 1000))
    reader.prune(time.time())
    assert not segment.exists() and unread.exists()
