"""The origin: the casserver that holds every blob, asked only by a key's owner."""

from __future__ import annotations

from cacheserver.lengths import Oversize
from cacheserver.upstream import Body, Upstream


class Origin:
    """Origin fetches blobs with casserver's `GET /cas/{digest}`."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self.base_url = upstream.base_url

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        """Fetch returns the blob's bytes, unverified, or what it said when over limit bytes."""
        return self._upstream.get(f"/cas/{digest}", limit)

    def open(self, digest: str) -> Body:
        """Open returns the blob's open body, to be streamed; see Upstream.open for errors."""
        return self._upstream.open(f"/cas/{digest}")

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._upstream.close()
