"""The headers of a blob answer, shared by the Falcon resource and the hit path.

They match casserver's: immutable content under a strong ETag that is the digest.
"""

from __future__ import annotations

from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
_CONTENT_TYPE: Final = ("Content-Type", OCTET_STREAM)
_CACHE_CONTROL: Final = ("Cache-Control", CACHE_CONTROL)
_ACCEPT_RANGES: Final = ("Accept-Ranges", "bytes")

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
