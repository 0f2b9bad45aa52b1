"""The headers of a blob answer, shared by the Falcon resource and the hit path.

They match casserver's: immutable content under a strong ETag that is the digest.
Range handling is for one byte range (RFC 9110 section 14); a multi-range or
malformed header is ignored and the whole blob is sent, as the RFC allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
_CONTENT_TYPE: Final = ("Content-Type", OCTET_STREAM)
_CACHE_CONTROL: Final = ("Cache-Control", CACHE_CONTROL)
_ACCEPT_RANGES: Final = ("Accept-Ranges", "bytes")
_RANGE: Final = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.IGNORECASE)

Headers = list[tuple[str, str]]


def etag(digest: str) -> str:
    """Etag is the strong entity tag of a blob: its quoted digest."""
    return f'"{digest}"'


def blob_headers(digest: str, size: int, x_cache: str) -> Headers:
    """Blob_headers returns the headers of a 200 answer carrying a whole blob."""
    return [
        _CONTENT_TYPE,
        ("Content-Length", str(size)),
        ("ETag", f'"{digest}"'),
        _CACHE_CONTROL,
        _ACCEPT_RANGES,
        ("X-Cache", x_cache),
    ]


def not_modified_headers(digest: str, x_cache: str) -> Headers:
    """Not_modified_headers returns the headers of a 304: validators, no content headers."""
    return [("ETag", f'"{digest}"'), ("Cache-Control", CACHE_CONTROL), ("X-Cache", x_cache)]


def none_match(if_none_match: str | None, digest: str) -> bool:
    """None_match reports whether If-None-Match names this blob, so the answer is 304.

    The comparison is weak, as RFC 9110 requires for If-None-Match.
    """
    if not if_none_match:
        return False
    tag = etag(digest)
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


class RangeNotSatisfiable(ValueError):
    """RangeNotSatisfiable is raised for a range that starts beyond the blob (416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a blob of {size} bytes")
        self.size = size


@dataclass(frozen=True, slots=True)
class ByteRange:
    """ByteRange is the satisfiable slice [start, end) of a blob of size bytes."""

    start: int
    end: int
    size: int

    @property
    def content_range(self) -> str:
        """Content_range is the Content-Range value of the 206 answer."""
        return f"bytes {self.start}-{self.end - 1}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Parse_range returns the range to send, None for the whole blob, or raises.

    RangeNotSatisfiable means 416 with ``Content-Range: bytes */size``.
    """
    m = _RANGE.fullmatch(header.strip()) if header else None
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(size - suffix, 0), size, size) if size else None
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range-spec is ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    return ByteRange(start, min(int(last) + 1, size) if last else size, size)
