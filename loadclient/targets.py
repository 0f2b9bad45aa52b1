"""The targeter: which blob each request asks for, and the bytes it must get back."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from cascommon.digest import sha256_hex


@dataclass(frozen=True, slots=True)
class Blob:
    """Blob is content and its SHA-256 digest (the name it is stored and fetched under)."""

    data: bytes
    digest: str

    @classmethod
    def of(cls, data: bytes) -> Blob:
        """Of hashes data into a Blob."""
        return cls(data, sha256_hex(data))

    @property
    def path(self) -> str:
        """Path is the blob's URL path on casserver and cacheserver."""
        return f"/cas/{self.digest}"


def random_blob(size: int, seed: str, index: int = 0) -> Blob:
    """Random_blob makes the index-th blob of a run: reproducible from seed, distinct per index."""
    rng = random.Random(hashlib.sha256(f"{seed}:{index}".encode()).digest())
    return Blob.of(rng.randbytes(size))


def file_blob(path: Path) -> Blob:
    """File_blob reads a file as the blob to upload and fetch."""
    return Blob.of(path.read_bytes())


def miss_index(hit: int, miss_ratio: float) -> int | None:
    """Miss_index is which fresh blob request hit asks for, or None when it asks for the hot one.

    Request k is a miss when floor((k+1)*r) > floor(k*r): exactly floor(n*r) misses among the
    first n requests, evenly spread, and each miss gets the next unused blob, so no fresh blob
    is ever requested twice (across worker processes too, since k is the global hit number).
    """
    if miss_ratio <= 0:
        return None
    before = _misses_before(hit, miss_ratio)
    return before if _misses_before(hit + 1, miss_ratio) > before else None


def misses_in(hits: int, miss_ratio: float) -> int:
    """Misses_in is how many fresh blobs the first hits requests need."""
    return _misses_before(hits, miss_ratio) if miss_ratio > 0 else 0


def _misses_before(n: int, miss_ratio: float) -> int:
    # Round so that ratios like 0.1 don't lose a miss to binary floating point.
    return int(round(n * miss_ratio, 9) // 1)
