"""The origin: the casserver that holds every blob, asked only by a key's owner."""

from __future__ import annotations

from cacheserver.upstream import DEFAULT_TOTAL_TIMEOUT_S, Upstream


class Origin:
    """Origin fetches blobs with casserver's `GET /cas/{digest}`."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        max_connections: int = 16,
        total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S,
    ) -> None:
        self._upstream = Upstream(base_url, timeout_s, max_connections, total_timeout_s)
        self.base_url = self._upstream.base_url

    def fetch(self, digest: str) -> bytes:
        """Fetch returns the blob's bytes, unverified; see Upstream.get for the errors."""
        return self._upstream.get(f"/cas/{digest}")

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._upstream.close()
