"""BlobCache: bounded by bytes, LRU, small blobs only, and a removed file stops being served."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from casserver.blobcache import ENTRY_OVERHEAD_BYTES, RECHECK_S, SMALL_BYTES, BlobCache, Entry
from casserver.blobsize import DamagedBlob, record


def blob(tmp_path: Path, name: str, size: int) -> str:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def load(cache: BlobCache, file: str, now: float = 0.0) -> Entry:
    hexdigest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    entry = cache.load(file, file, hexdigest, now)
    assert entry is not None
    return entry


def test_what_enters_memory_is_hashed_and_a_size_change_is_seen(tmp_path: Path) -> None:
    cache = BlobCache(1 << 20, 1 << 16)
    file = blob(tmp_path, "b", 3000)
    good = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    with pytest.raises(DamagedBlob) as hashed:
        cache.load(file, file, "ab" * 32, 0.0)
    assert hashed.value.reason == "hash" and len(cache) == 0
    fd = os.open(file, os.O_RDONLY)
    try:
        assert record(fd, 3000)
    finally:
        os.close(fd)
    os.truncate(file, 100)
    for c in (cache, BlobCache(0, 0)):  # entering memory or not: the size is checked
        with pytest.raises(DamagedBlob) as sized:
            c.load(file, file, good, 0.0)
        assert sized.value.reason == "size"


def test_the_bound_holds_and_the_least_recently_used_go_first(tmp_path: Path) -> None:
    item = 10_000
    cache = BlobCache(10 * (item + ENTRY_OVERHEAD_BYTES), item)
    files = [blob(tmp_path, f"b{i}", item) for i in range(30)]
    for i, file in enumerate(files):
        load(cache, file)
        if i >= 1:
            assert cache.get(files[0], 0.0) is not None  # kept in use: never evicted
        assert cache.current_bytes <= cache.max_bytes
    assert len(cache) == 10
    assert cache.current_bytes == 10 * (item + ENTRY_OVERHEAD_BYTES)
    assert cache.get(files[0], 0.0) is not None
    assert cache.get(files[1], 0.0) is None  # least recently used
    assert all(cache.get(f, 0.0) is not None for f in files[-9:])


def test_blobs_over_the_item_limit_are_answered_but_not_kept(tmp_path: Path) -> None:
    cache = BlobCache(1 << 20, 1000)
    entry = load(cache, blob(tmp_path, "big", 1001))
    assert (entry.size, entry.data is not None) == (1001, True)  # read: small enough to send
    assert (len(cache), cache.current_bytes) == (0, 0)
    huge = load(cache, blob(tmp_path, "huge", SMALL_BYTES + 1))
    assert (huge.size, huge.data) == (SMALL_BYTES + 1, None)  # granian sends the file


def test_an_item_limit_above_the_cache_is_cut_to_fit(tmp_path: Path) -> None:
    cache = BlobCache(5000, 1 << 20)
    load(cache, blob(tmp_path, "fits", 5000 - ENTRY_OVERHEAD_BYTES))
    load(cache, blob(tmp_path, "too-big", 5000))
    assert len(cache) == 1 and cache.current_bytes == 5000


def test_zero_bytes_disables_the_cache(tmp_path: Path) -> None:
    cache = BlobCache(0, 1 << 18)
    file = blob(tmp_path, "b", 100)
    assert load(cache, file).data is not None
    assert cache.get(file, 0.0) is None and len(cache) == 0


def test_a_removed_blob_is_forgotten_after_the_recheck_time(tmp_path: Path) -> None:
    cache = BlobCache(1 << 20, 1 << 18)
    file = blob(tmp_path, "b", 100)
    load(cache, file, now=100.0)
    os.unlink(file)
    assert cache.get(file, 100.0 + RECHECK_S) is not None  # trusted until then
    assert cache.get(file, 100.0 + RECHECK_S + 0.001) is None
    assert len(cache) == 0
    assert cache.load(file, file, "ab" * 32, 102.0) is None


def test_an_item_limit_above_the_read_size_keeps_bigger_blobs(tmp_path: Path) -> None:
    cache = BlobCache(4 << 20, 2 << 20)
    entry = load(cache, blob(tmp_path, "1mib", 1 << 20))
    assert entry.data is not None and len(cache) == 1


def test_a_big_file_checked_before_is_checked_again_once_it_changes(tmp_path: Path) -> None:
    cache = BlobCache(1 << 20, 1 << 16)
    file = blob(tmp_path, "big", SMALL_BYTES + 1)
    fd = os.open(file, os.O_RDONLY)
    try:
        assert record(fd, SMALL_BYTES + 1)
    finally:
        os.close(fd)
    first = load(cache, file)
    assert load(cache, file) is first  # unchanged: no open, the same prebuilt answer
    with open(file, "ab") as f:
        f.write(b"appended")
    with pytest.raises(DamagedBlob):
        cache.load(file, file, "ab" * 32, 0.0)
