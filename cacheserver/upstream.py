"""A keep-alive HTTP client for one base URL that turns failures into LoadErrors."""

from __future__ import annotations

import time
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
# Long enough for a 64 MiB value at 2.2 MiB/s, short enough that a server trickling
# bytes frees its fill slot in half a minute.
DEFAULT_TOTAL_TIMEOUT_S: Final = 30.0
CHUNK_BYTES: Final = 256 * 1024
ERROR_BODY_BYTES: Final = 64 * 1024


class Upstream:
    """Upstream GETs paths below base_url over pooled, reused connections.

    timeout_s bounds the connect and each read; total_timeout_s bounds a whole body,
    which a server sending one byte per read timeout would otherwise stretch forever.
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        max_connections: int = 16,
        total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.total_timeout_s = total_timeout_s
        self._timeout = urllib3.Timeout(
            connect=min(timeout_s, MAX_CONNECT_TIMEOUT_S), read=timeout_s
        )
        # block=False: under a burst, open extra connections instead of queueing for one.
        self._pool = urllib3.connection_from_url(
            self.base_url, maxsize=max_connections, block=False, timeout=self._timeout
        )

    def get(self, path: str) -> bytes:
        """Get returns the body of a 200 answer to GET path.

        It raises NotFound for a 404, UpstreamTimeout when no answer or no whole body
        comes in time and Unavailable for anything else.
        """
        deadline = time.monotonic() + self.total_timeout_s
        try:
            resp = self._pool.request(
                "GET", self._prefix + path, retries=False, redirect=False, preload_content=False
            )
        except NewConnectionError as ex:  # checked first: urllib3 makes it a timeout subclass
            raise Unavailable(f"{self.base_url}: cannot connect") from ex
        except Urllib3Timeout as ex:
            raise UpstreamTimeout(f"{self.base_url}: no answer within {self.timeout_s:g}s") from ex
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{self.base_url}: {type(ex).__name__}") from ex
        limit = None if resp.status == 200 else ERROR_BODY_BYTES
        body = self._read(resp, deadline, limit)
        if resp.status == 200:
            return body
        if resp.status == 404:
            raise NotFound(f"{self.base_url}{path}: 404")
        raise Unavailable(f"{self.base_url}{path}: HTTP {resp.status}")

    def _read(self, resp: urllib3.BaseHTTPResponse, deadline: float, limit: int | None) -> bytes:
        """_read reads the body against the deadline; a connection left mid-body is closed."""
        chunks: list[bytes] = []
        size = 0
        done = False
        try:
            while limit is None or size <= limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise UpstreamTimeout(
                        f"{self.base_url}: body not complete within {self.total_timeout_s:g}s"
                    )
                sock = getattr(resp.connection, "sock", None)
                if sock is not None:
                    # Each read waits at most what is left of the budget: a stalled read
                    # cannot outlive the deadline by a whole read timeout.
                    sock.settimeout(min(self.timeout_s, remaining))
                chunk = resp.read1(CHUNK_BYTES)
                if not chunk:
                    done = True
                    break
                chunks.append(chunk)
                size += len(chunk)
        except Urllib3Timeout as ex:
            raise UpstreamTimeout(f"{self.base_url}: body stalled") from ex
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{self.base_url}: {type(ex).__name__} in the body") from ex
        finally:
            if not done:
                resp.close()  # a half-read connection is never reused
            resp.release_conn()
        return b"".join(chunks)

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._pool.close()
