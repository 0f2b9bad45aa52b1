"""One eviction pass over real files: oldest first, grace kept, links and touches honoured."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from casserver import eviction
from casserver.eviction import empty_trash, park, run_pass, trash_dir
from casserver.evictscan import scan
from tests.support import PYTHON


def blob(root: Path, data: bytes, age_s: float) -> Path:
    hexdigest = hashlib.sha256(data).hexdigest()
    path = root / "sha256" / hexdigest[:2] / hexdigest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def aliased_blob(root: Path, data: bytes) -> tuple[Path, Path]:
    """Return an old blob and a SHA-1 name linked to it."""
    path = blob(root, data, age_s=100)
    alias = root / "sha1" / "ab" / ("ab" * 20)
    alias.parent.mkdir(parents=True)
    os.link(path, alias)
    return path, alias


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
    path, alias = aliased_blob(tmp_path, b"x" * 1000)
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
    assert park(tmp_path, trash_dir(tmp_path), found.oldest[0]) is None
    assert path.read_bytes() == b"t" * 1000
    assert list(trash_dir(tmp_path).iterdir()) == []


KILLED_MID_PASS = """
import os, signal, sys
from pathlib import Path
from casserver import eviction
# SIGKILL once the pass has dealt with the blobs' own names, before their SHA-1 names.
eviction._unlink_aliases = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
eviction.run_pass(Path(sys.argv[1]), 0, protect_s=10, estimate_bytes=1000)
"""


def test_a_pass_killed_midway_leaves_no_sha1_name_after_the_next_start(tmp_path: Path) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    path, alias = aliased_blob(tmp_path, b"k" * 1000)
    killed = subprocess.run([PYTHON, "-c", KILLED_MID_PASS, str(tmp_path)], timeout=30)
    assert killed.returncode == -signal.SIGKILL
    empty_trash(tmp_path)  # what the evictor's next start does
    assert not path.exists() and not alias.exists()  # not a name the budget never counts
    assert list(trash_dir(tmp_path).iterdir()) == []


def test_a_blob_touched_by_its_sha1_name_while_parked_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trash_dir(tmp_path).mkdir(parents=True)
    path, alias = aliased_blob(tmp_path, b"t" * 1000)

    def park_then_touch(*args: Any) -> Path | None:
        parked = park(*args)
        os.utime(alias)  # a re-upload by SHA-1 finds the name and is told it is stored
        return parked

    monkeypatch.setattr(eviction, "park", park_then_touch)
    result = eviction.run_pass(tmp_path, 0, protect_s=10, estimate_bytes=1000)
    assert (result.evicted_blobs, result.bytes_after) == (0, 1000)
    assert path.read_bytes() == alias.read_bytes() == b"t" * 1000
    assert list(trash_dir(tmp_path).iterdir()) == []


def test_a_time_in_the_future_counts_as_used_now_and_then_ages(tmp_path: Path) -> None:
    """A clock that ran ahead once kept its files within the grace until it caught up."""
    trash_dir(tmp_path).mkdir(parents=True)
    future = blob(tmp_path, b"f" * 1000, age_s=-10 * 365 * 86400)  # ten years ahead
    skewed = blob(tmp_path, b"s" * 1000, age_s=-60)  # a minute ahead: NFS or NTP skew
    old = blob(tmp_path, b"o" * 1000, age_s=100)
    result = run_pass(tmp_path, 0, protect_s=10, estimate_bytes=3000)
    assert (result.evicted_blobs, result.short) == (1, True)
    assert not old.exists() and future.exists() and skewed.exists()
    assert abs(future.stat().st_mtime - time.time()) < 60  # used now, as far as eviction goes
    assert skewed.stat().st_mtime > time.time() + 30  # within the slack: not touched
    # Without a grace it goes at the next pass; the skewed one only once the clock is there.
    assert run_pass(tmp_path, 0, protect_s=0, estimate_bytes=2000).evicted_blobs == 1
    assert not future.exists() and skewed.exists()
