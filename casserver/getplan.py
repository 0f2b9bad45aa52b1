"""The one decision of what a GET or HEAD of a stored blob answers: a Plan both fronts render.

The fast path (``fastget``, on granian's event loop) and the Falcon resource (threads,
and gunicorn) each only render a Plan: its status, its headers in order, and the byte
window to send. ``cascommon.conditional.select`` decides 304, 206 or the whole blob;
this module adds the headers. Duplicate header lines are read one way in both: joined
with commas, as a WSGI environ joins them (``joined``), so ``If-None-Match`` matches if
any listed tag does, and two ``Range`` lines are no valid range (the whole blob, 200).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from cascommon.blobheaders import CACHE_CONTROL, OCTET_STREAM, etag
from cascommon.conditional import select

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Plan:
    """Plan is an answer to render: status, headers in order, and length bytes from start."""

    status: int
    headers: Headers
    start: int = 0
    length: int = 0
    # Whether blob bytes follow the headers (a GET's 200 or 206): an attribute, not a
    # property, as the fast path reads it on every request.
    has_body: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_body", self.status in _WITH_BODY and self.length > 0)


_WITH_BODY: Final = frozenset({200, 206})


class Prebuilt:
    """Prebuilt holds a blob's headers and its commonest plans, built once per blob."""

    __slots__ = ("size", "tag", "validators", "full", "whole", "head")

    def __init__(self, hexdigest: str, size: int) -> None:
        self.size = size
        self.tag = etag(hexdigest)
        # The headers of a 304, which every other answer starts with.
        self.validators: Headers = [
            ("etag", self.tag), ("cache-control", CACHE_CONTROL), ("accept-ranges", "bytes")
        ]  # fmt: skip
        # The headers of a whole 200 (GET or HEAD), built once and sent as is.
        self.full: Headers = [
            *self.validators, ("content-type", OCTET_STREAM), ("content-length", str(size))
        ]  # fmt: skip
        self.whole = Plan(200, self.full, 0, size)
        self.head = Plan(200, self.full)


def decide(
    method: str,
    entry: Prebuilt,
    if_none_match: str | None = None,
    if_range: str | None = None,
    range_header: str | None = None,
) -> Plan:
    """Decide returns the plan for the request; it raises RangeNotSatisfiable for a 416."""
    if if_none_match is None and range_header is None:
        return entry.whole if method == "GET" else entry.head  # most requests: prebuilt
    chosen = select(
        method,
        entry.size,
        entry.tag,
        if_none_match=if_none_match,
        if_range=if_range,
        range_header=range_header,
    )
    if chosen.not_modified:
        return Plan(304, entry.validators)
    byte_range = chosen.byte_range
    if byte_range is None:
        return entry.whole if method == "GET" else entry.head
    headers = [
        *entry.validators,
        ("content-range", byte_range.content_range),
        ("content-type", OCTET_STREAM),
        ("content-length", str(byte_range.length)),
    ]
    return Plan(206, headers, byte_range.start, byte_range.length)


def joined(headers: Any, name: str) -> str | None:
    """Joined is every line of header name joined with commas, or None when it is absent.

    headers is granian's RSGIHeaders (``get`` gives the first line only, ``get_all``
    every one); the common single line costs one lookup more than none.
    """
    first: str | None = headers.get(name)
    if first is None:
        return None
    lines: list[str] = headers.get_all(name)
    return first if len(lines) == 1 else ",".join(lines)
