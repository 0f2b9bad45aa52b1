"""A keep-alive HTTP client for one base URL that turns failures into LoadErrors.

The origin and every peer are reached through it: whole small bodies (get) or open
bodies read chunk by chunk (open), each bounded in time and in size. Three deadlines tell
the causes apart: the connect (no SYN-ACK: a black hole, or nothing listening), the first
byte (a request sent on a live or pooled connection and nothing back: a silent upstream)
and each later read (a slow body). A bulkhead, when given, bounds how many requests this
member has open to the upstream at once; a full one refuses at once (Full).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import ConnectTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cacheserver.errors import (
    Busy,
    ConnectFailed,
    FirstByteTimeout,
    NotFound,
    OriginFailed,
    OriginTimedOut,
    TooLarge,
    Unavailable,
    UpstreamTimeout,
)
from cacheserver.gate import Gate
from cacheserver.lengths import Oversize
from cacheserver.silence import SilentTimeout, WatchedConnection

# A connect to a live host on a LAN takes well under a second; waiting the whole
# read timeout for one only delays the fallback.
MAX_CONNECT_TIMEOUT_S: Final = 1.0
# Long enough for a 64 MiB value at 2.2 MiB/s, short enough that a server trickling
# bytes frees its fill slot in half a minute.
DEFAULT_TOTAL_TIMEOUT_S: Final = 30.0
DEFAULT_MAX_BLOB_BYTES: Final = 1 << 30
CHUNK_BYTES: Final = 256 * 1024
ERROR_BODY_BYTES: Final = 64 * 1024
# Set by a member's peer listener on an error that was its origin's, not its own.
ORIGIN_ERROR_HEADER: Final = "X-Cache-Origin-Error"


class Body:
    """Body is an open 200 answer, read in chunks against the fetch's deadline."""

    def __init__(self, upstream: Upstream, resp: urllib3.BaseHTTPResponse, deadline: float):
        self._upstream = upstream
        self._resp = resp
        self._deadline = deadline
        self._done = False
        self._released = False
        length = resp.headers.get("Content-Length")
        if length is not None and not (length.isascii() and length.isdigit()):
            # Invalid framing (RFC 9112 6.3): discarded, never read to its close. isdigit
            # alone takes "²", which int() refuses: a traceback and a 500, no backoff.
            self.close()
            raise Unavailable(f"{upstream.base_url}: Content-Length {length[:32]!r} is no length")
        self.length = None if length is None else int(length)
        if self.length is not None and self.length > upstream.max_blob_bytes:
            self.close()
            raise TooLarge(f"{upstream.base_url}: {self.length} bytes is over the limit")

    def __iter__(self) -> Iterator[bytes]:
        """Iter yields the body's chunks; errors are LoadErrors, and the body is closed."""
        size, up = 0, self._upstream
        try:
            while True:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise UpstreamTimeout(
                        f"{up.base_url}: body not complete within {up.total_timeout_s:g}s"
                    )
                sock = getattr(self._resp.connection, "sock", None)
                if sock is not None:
                    # Each read waits at most what is left of the budget: a stalled read
                    # cannot outlive the deadline by a whole read timeout.
                    sock.settimeout(min(up.timeout_s, remaining))
                # What is left, when known: a read allocates all it asks for, and
                # a 256 KiB buffer cut down to a 50 KB body left a hole in the heap.
                # No decoding (no Content-Encoding is asked for): urllib3's decoded
                # path copies every chunk once more through a BytesIO.
                want = CHUNK_BYTES if self.length is None else min(CHUNK_BYTES, self.length - size)
                chunk = self._resp.read1(want, decode_content=False) if want > 0 else b""
                if not chunk:
                    self._done = True
                    return
                size += len(chunk)
                if size > up.max_blob_bytes:
                    raise TooLarge(f"{up.base_url}: body over {up.max_blob_bytes} bytes")
                yield chunk
        except Urllib3Timeout as ex:
            raise UpstreamTimeout(
                f"{up.base_url}: body read timeout (no bytes for {up.timeout_s:g}s)"
            ) from ex
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{up.base_url}: {type(ex).__name__} in the body") from ex
        finally:
            self.close()

    def read(self, limit: int) -> bytes | Oversize:
        """Read returns the whole body, or (closing it) what it said once it is over limit bytes."""
        if self.length is not None and self.length > limit:
            self.close()
            return Oversize(self._upstream.base_url, self.length, limit)
        chunks: list[bytes] = []
        size = 0
        for chunk in self:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                self.close()
                return Oversize(self._upstream.base_url, self.length, limit)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        """Close gives the connection back; one left mid-body is closed, never reused."""
        if not self._done:
            self._resp.close()
            self._done = True
        self._resp.release_conn()
        if not self._released:
            self._released = True
            self._upstream.release()


class Upstream:
    """Upstream GETs paths below base_url over pooled, reused connections.

    connect_timeout_s bounds the connect, first_byte_timeout_s the wait for the answer's
    first byte (None: timeout_s), timeout_s each later read; total_timeout_s bounds a
    whole body, which a server sending one byte per read timeout would otherwise stretch
    forever; max_blob_bytes bounds its size, with or without a Content-Length.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        max_connections: int = 16,
        total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        headers: Mapping[str, str] | None = None,
        connect_timeout_s: float = MAX_CONNECT_TIMEOUT_S,
        first_byte_timeout_s: float | None = None,
        bulkhead: Gate | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_blob_bytes = max_blob_bytes
        self._headers = dict(headers or {})
        self.connect_timeout_s = min(timeout_s, connect_timeout_s)
        self.first_byte_timeout_s = first_byte_timeout_s or timeout_s
        self.bulkhead = bulkhead
        # The first-byte deadline ends the wait for an answer only when the request was
        # never acknowledged (silence.py): a slow but live upstream gets timeout_s.
        self._timeout = urllib3.Timeout(connect=self.connect_timeout_s, read=timeout_s)
        # block=False: under a burst, open extra connections instead of queueing for one.
        if parts.scheme == "http":
            self._pool = urllib3.HTTPConnectionPool(
                parts.hostname, parts.port, maxsize=max_connections, block=False,
                timeout=self._timeout, silent_after_s=self.first_byte_timeout_s,
            )  # fmt: skip
            self._pool.ConnectionCls = WatchedConnection
        else:
            self._pool = urllib3.connection_from_url(
                self.base_url, maxsize=max_connections, block=False, timeout=self._timeout
            )

    def open(self, path: str) -> Body:
        """Open returns the open body of a 200 answer to GET path.

        It raises NotFound for a 404, UpstreamTimeout when no answer comes in time,
        OriginFailed when a peer says its origin failed, Unavailable for anything else.
        """
        if self.bulkhead is not None:
            self.bulkhead.enter()
        deadline = time.monotonic() + self.total_timeout_s
        try:
            resp = self._request(path)
        except BaseException:
            self.release()
            raise
        if resp.status == 200:
            return Body(self, resp, deadline)
        Body(self, resp, deadline).read(ERROR_BODY_BYTES)  # drained, so the connection is reused
        what = f"{self.base_url}{path}: HTTP {resp.status}"
        if resp.status == 404:
            raise NotFound(what)
        if resp.headers.get(ORIGIN_ERROR_HEADER):
            raise (OriginTimedOut if resp.status == 504 else OriginFailed)(what)
        if resp.status == 503:
            raise Busy(what)
        raise Unavailable(what)

    def _request(self, path: str) -> urllib3.BaseHTTPResponse:
        """_request sends GET path and returns the answer's head, naming the cause of a failure."""
        try:
            return self._pool.request(
                "GET", self._prefix + path, headers=self._headers, retries=False,
                redirect=False, preload_content=False,
            )  # fmt: skip
        except ConnectTimeoutError as ex:  # NewConnectionError (refused) is one too
            why = "refused" if "refused" in str(ex).lower() else "connect timeout"
            raise ConnectFailed(
                f"{self.base_url}: cannot connect ({why}, {self.connect_timeout_s:g}s)"
            ) from ex
        except Urllib3Timeout as ex:
            if isinstance(ex.__cause__, SilentTimeout):
                raise FirstByteTimeout(
                    f"{self.base_url}: first-byte timeout (request unacknowledged for "
                    f"{self.first_byte_timeout_s:g}s: silent)"
                ) from ex
            raise UpstreamTimeout(
                f"{self.base_url}: read timeout (no answer within {self.timeout_s:g}s)"
            ) from ex
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{self.base_url}: {type(ex).__name__}") from ex

    def release(self) -> None:
        """Release gives the bulkhead place of a finished request back."""
        if self.bulkhead is not None:
            self.bulkhead.leave()

    def probe(self, path: str) -> None:
        """Probe GETs path outside the bulkhead; any error is raised, a 200 returns."""
        resp = self._request(path)
        try:
            resp.read(ERROR_BODY_BYTES, decode_content=False)
        except (Urllib3Error, OSError) as ex:
            raise Unavailable(f"{self.base_url}: probe body: {type(ex).__name__}") from ex
        finally:
            resp.release_conn()
        if resp.status != 200:
            raise Unavailable(f"{self.base_url}{path}: HTTP {resp.status}")

    def get(self, path: str, limit: int | None = None) -> bytes | Oversize:
        """Get returns the body of a 200 answer, or what it said when it is over limit bytes."""
        return self.open(path).read(self.max_blob_bytes if limit is None else limit)

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._pool.close()
