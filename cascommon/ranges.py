"""HTTP Range requests (RFC 9110 section 14) for one byte range of a blob.

Both servers answer ranges this way. Only single ranges are served; a multi-range or
syntactically invalid header is ignored and the whole blob is sent, which the RFC allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_SPEC: Final = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.IGNORECASE)


class RangeNotSatisfiable(ValueError):
    """RangeNotSatisfiable is raised for a range that starts beyond the blob (416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a blob of {size} bytes")
        self.size = size


@dataclass(frozen=True, slots=True)
class ByteRange:
    """ByteRange is a satisfiable range: length bytes from start of a blob of size bytes."""

    start: int
    length: int
    size: int

    @property
    def content_range(self) -> str:
        """Content_range is the Content-Range header value for a 206 answer."""
        return f"bytes {self.start}-{self.start + self.length - 1}/{self.size}"

    @property
    def end(self) -> int:
        """End is the offset just past the range, for slicing the blob's bytes."""
        return self.start + self.length


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Parse_range returns the range to serve, None to serve everything, or raises.

    RangeNotSatisfiable means answer 416 with ``Content-Range: bytes */size``.
    """
    if not header:
        return None
    m = _SPEC.fullmatch(header.strip())
    if m is None:
        return None  # another unit, several ranges, or junk: ignored
    first, last = m.group(1), m.group(2)
    if not first:
        if not last:
            return None  # "bytes=-" is invalid
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None  # the only satisfiable suffix of nothing is nothing: send it whole
        suffix = min(suffix, size)
        return ByteRange(size - suffix, suffix, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(end, size - 1)
    return ByteRange(start, end - start + 1, size)


def if_range_allows(if_range: str | None, etag: str) -> bool:
    """If_range_allows reports whether an If-Range header lets a Range apply.

    Only a strong match of our ETag does; a date never matches (we send no
    Last-Modified), so the whole blob is sent instead.
    """
    return if_range is None or if_range.strip() == etag
