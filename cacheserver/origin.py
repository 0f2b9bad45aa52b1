"""The origin: the casserver that holds every blob, asked only by a key's owner."""

from __future__ import annotations

import math

from cacheserver.errors import UpstreamDown
from cacheserver.health import Health
from cacheserver.lengths import Oversize
from cacheserver.upstream import Body, Upstream

# How long a silent origin is skipped at most before a probe may bring it back.
ORIGIN_MAX_BACKOFF_S = 2.0


class Origin:
    """Origin fetches blobs with casserver's `GET /cas/{digest}`.

    An origin that cannot be connected to, or sends nothing back in time, is skipped:
    misses fail at once (503 + Retry-After) until a background probe of its /healthz
    answers, so a dead origin costs each miss microseconds, not a connect timeout.
    """

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self.base_url = upstream.base_url
        self.health = Health(
            "origin", ORIGIN_MAX_BACKOFF_S, heard_window_s=upstream.first_byte_timeout_s,
            slow_s=math.inf,
        )  # fmt: skip

    @property
    def upstream(self) -> Upstream:
        """Upstream is the HTTP client the origin is reached with (probes use it too)."""
        return self._upstream

    def _check(self) -> None:
        if not self.health.available():
            raise UpstreamDown(f"{self.base_url}: backed off ({self.health.last_cause})")

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        """Fetch returns the blob's bytes, unverified, or what it said when over limit bytes."""
        self._check()
        return self.health.track(
            lambda: self._upstream.get(f"/cas/{digest}", limit), own_errors=False
        )

    def open(self, digest: str) -> Body:
        """Open returns the blob's open body, to be streamed; see Upstream.open for errors."""
        self._check()
        return self.health.track(lambda: self._upstream.open(f"/cas/{digest}"), own_errors=False)

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._upstream.close()
