"""What a GET or HEAD of a blob answers given its conditional and Range headers.

Both servers decide it here, the same way: If-None-Match first (304), then, for a GET
only (RFC 9110 section 14.2: HEAD ignores Range), a single range that If-Range allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from cascommon.blobheaders import none_match
from cascommon.ranges import ByteRange, if_range_allows, parse_range


@dataclass(frozen=True, slots=True)
class Selection:
    """Selection is the answer: 304, a 206 of byte_range, or (neither) the whole blob."""

    not_modified: bool = False
    byte_range: ByteRange | None = None


WHOLE = Selection()
NOT_MODIFIED = Selection(not_modified=True)


def select(
    method: str,
    size: int,
    etag: str,
    *,
    if_none_match: str | None,
    if_range: str | None,
    range_header: str | None,
) -> Selection:
    """Select decides the answer; it raises RangeNotSatisfiable for a 416."""
    if none_match(if_none_match, etag):
        return NOT_MODIFIED
    if method != "GET" or not range_header or not if_range_allows(if_range, etag):
        return WHOLE
    byte_range = parse_range(range_header, size)
    return WHOLE if byte_range is None else Selection(byte_range=byte_range)
