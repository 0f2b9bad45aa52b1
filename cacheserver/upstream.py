"""A keep-alive HTTP client for one base URL that turns failures into LoadErrors."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cacheserver.errors import NotFound, Unavailable, UpstreamTimeout

# A connect to a live host on a LAN takes well under a second; waiting the whole
# read timeout for one only delays the fallback.
MAX_CONNECT_TIMEOUT_S: Final = 1.0


class Upstream:
    """Upstream GETs paths below base_url over pooled, reused connections."""

    def __init__(self, base_url: str, timeout_s: float, max_connections: int = 16) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._timeout = urllib3.Timeout(
            connect=min(timeout_s, MAX_CONNECT_TIMEOUT_S), read=timeout_s
        )
        # block=False: under a burst, open extra connections instead of queueing for one.
        self._pool = urllib3.connection_from_url(
            self.base_url, maxsize=max_connections, block=False, timeout=self._timeout
        )

    def get(self, path: str) -> bytes:
        """Get returns the body of a 200 answer to GET path.

        It raises NotFound for a 404, UpstreamTimeout when no answer comes in time and
        Unavailable for anything else.
        """
        try:
            resp = self._pool.request(
                "GET", self._prefix + path, retries=False, redirect=False, preload_content=True
            )
        except NewConnectionError as ex:  # checked first: urllib3 makes it a timeout subclass
            raise Unavailable(f"{self.base_url}: cannot connect") from ex
        except Urllib3Timeout as ex:
            raise UpstreamTimeout(f"{self.base_url}: no answer within {self.timeout_s:g}s") from ex
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{self.base_url}: {type(ex).__name__}") from ex
        if resp.status == 200:
            return bytes(resp.data)
        if resp.status == 404:
            raise NotFound(f"{self.base_url}{path}: 404")
        raise Unavailable(f"{self.base_url}{path}: HTTP {resp.status}")

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._pool.close()
