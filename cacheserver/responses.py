"""The headers of a blob answer, shared by the Falcon resource and the hit path.

They carry casserver's caching headers (``cascommon.blobheaders``) plus X-Cache.
"""

from __future__ import annotations

from typing import Final

from cascommon.blobheaders import CACHE_CONTROL, OCTET_STREAM

_CONTENT_TYPE: Final = ("Content-Type", OCTET_STREAM)
_CACHE_CONTROL: Final = ("Cache-Control", CACHE_CONTROL)
_ACCEPT_RANGES: Final = ("Accept-Ranges", "bytes")

Headers = list[tuple[str, str]]


def blob_headers(digest: str, size: int, x_cache: str) -> Headers:
    """Blob_headers returns the headers of a 200 answer carrying a whole blob."""
    # The ETag is spelled out rather than built by etag(): every hit runs this.
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
