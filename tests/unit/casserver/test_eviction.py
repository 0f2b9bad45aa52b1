"""One eviction pass over real files: oldest first, grace kept, links and touches honoured."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from casserver.eviction import remove, run_pass, trash_dir
from casserver.evictscan import scan


def blob(root: Path, data: bytes, age_s: float) -> Path:
    hexdigest = hashlib.sha256(data).hexdigest()
    path = root / "sha256" / hexdigest[:2] / hexdigest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_a_pass_removes_the_oldest_down_to_the_target(tmp_path: Path) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    paths = [blob(tmp_path, bytes([i]) * 1000, age_s=100 - i) for i in range(10)]
    result = run_pass(tmp_path, 7000, protect_s=10, estimate_bytes=10_000)
    assert (result.evicted_blobs, result.bytes_after, result.short) == (3, 7000, False)
    assert [p.exists() for p in paths] == [False] * 3 + [True] * 7
    assert list(trash_dir(tmp_path).iterdir()) == []


def test_what_is_within_the_protection_stays_and_the_pass_says_short(tmp_path: Path) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    old = blob(tmp_path, b"o" * 1000, age_s=100)
    fresh = blob(tmp_path, b"f" * 1000, age_s=1)
    result = run_pass(tmp_path, 0, protect_s=10, estimate_bytes=0)  # estimate low: walks again
    assert (result.evicted_blobs, result.short) == (1, True)
    assert not old.exists() and fresh.exists()


def test_a_sha1_name_goes_with_its_blob_and_action_results_count(tmp_path: Path) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    path = blob(tmp_path, b"x" * 1000, age_s=100)
    alias = tmp_path / "sha1" / "ab" / ("ab" * 20)
    alias.parent.mkdir(parents=True)
    os.link(path, alias)
    entry = tmp_path / "ac" / "cd" / ("cd" * 32)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"r" * 10)
    assert (scan(tmp_path, 0, 0).files, scan(tmp_path, 0, 0).bytes) == (2, 1010)
    result = run_pass(tmp_path, 10, protect_s=10, estimate_bytes=1010)
    assert (result.evicted_blobs, result.evicted_ac) == (1, 0)
    assert not alias.exists() and entry.exists()


def test_a_file_touched_since_the_scan_is_linked_back(tmp_path: Path) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    path = blob(tmp_path, b"t" * 1000, age_s=100)
    found = scan(tmp_path, 1000, time.time_ns())
    os.utime(path)  # a read flushed between the scan and the removal
    assert remove(tmp_path, trash_dir(tmp_path), found.oldest[0]) is False
    assert path.read_bytes() == b"t" * 1000
    assert list(trash_dir(tmp_path).iterdir()) == []
