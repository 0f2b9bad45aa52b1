"""Content digests: the only way a blob is named.

A digest is lowercase hex: 64 characters for SHA-256, 40 for SHA-1 (what the Go
original's client sends). Anything else is rejected before it reaches storage, so
a key can never carry a path separator, a dot or a client-chosen name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Protocol

SHA256: Final = "sha256"
SHA1: Final = "sha1"

_HEX_LENGTHS: Final = {64: SHA256, 40: SHA1}
_LOWER_HEX: Final = re.compile(r"[0-9a-f]+")


class InvalidDigest(ValueError):
    """InvalidDigest is raised for text that is not a lowercase SHA-256 or SHA-1 hex digest."""


class Hasher(Protocol):
    """Hasher is the part of a hashlib object a digest check needs."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Digest:
    """Digest is a validated content address: an algorithm and its lowercase hex value."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return self.hex

    def hasher(self) -> Hasher:
        """Hasher returns a fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes | memoryview) -> bool:
        """Matches reports whether data hashes to this digest."""
        h = self.hasher()
        h.update(bytes(data))
        return h.hexdigest() == self.hex


def parse_digest(text: str) -> Digest:
    """Parse_digest validates text as a digest, raising InvalidDigest otherwise."""
    algorithm = _HEX_LENGTHS.get(len(text))
    if algorithm is None or _LOWER_HEX.fullmatch(text) is None:
        raise InvalidDigest(
            f"digest must be 64 (SHA-256) or 40 (SHA-1) lowercase hex characters, got {text[:80]!r}"
        )
    return Digest(algorithm, text)


def parse_sha256(text: str) -> Digest:
    """Parse_sha256 validates text as a SHA-256 digest only (an action cache key)."""
    digest = parse_digest(text)
    if digest.algorithm != SHA256:
        raise InvalidDigest(f"expected 64 lowercase hex characters (SHA-256), got {text[:80]!r}")
    return digest


def sha256_hex(data: bytes) -> str:
    """Sha256_hex returns the SHA-256 of data as lowercase hex."""
    return hashlib.sha256(data).hexdigest()
