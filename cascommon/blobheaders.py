"""The caching headers of a blob answer, the same from casserver and the cache tier.

A blob is immutable content under a strong ETag that is its digest, so any cache may
keep it for a year without revalidating.
"""

from __future__ import annotations

from typing import Final

OCTET_STREAM: Final = "application/octet-stream"
CACHE_CONTROL: Final = "public, max-age=31536000, immutable"


def etag(digest: str) -> str:
    """Etag is the strong entity tag of a blob: its quoted digest."""
    return f'"{digest}"'


def none_match(if_none_match: str | None, tag: str) -> bool:
    """None_match reports whether If-None-Match names the blob tagged tag, so the answer is 304.

    The comparison is weak, as RFC 9110 requires: W/"x" matches "x"; "*" matches any
    stored blob.
    """
    if not if_none_match:
        return False
    return any(
        t.strip() == "*" or t.strip().removeprefix("W/") == tag for t in if_none_match.split(",")
    )
