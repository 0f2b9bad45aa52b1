"""FastGet: GET/HEAD of a stored blob answered on granian's event loop, before Falcon.

Falcon's request and response objects cost more than the rest of a small GET, and a
stored blob needs neither: this path stats the file and lets granian send it (from
Rust, off the Python threads), with the same headers, Range, ETag and 304 answers as
the Falcon resource. Anything it does not answer with a blob (a bad digest, a missing
blob, an unsatisfiable range, a read without the read token) goes to Falcon, which
words the problem+json. Every check Falcon makes on reads must be made here too.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Final

from cascommon.blobheaders import CACHE_CONTROL, OCTET_STREAM, etag, none_match
from cascommon.digest import SHA1, SHA256
from cascommon.ranges import RangeNotSatisfiable, if_range_allows, parse_range
from casserver.auth import Tokens
from casserver.metrics import Metrics
from casserver.storage import BlobStore
from casserver.tally import Tally

PREFIX: Final = "/cas/"
ROUTE: Final = "/cas/{digest}"
# Blobs up to this size are read here and sent from memory: for small files one
# read costs less than granian's own file open; bigger ones granian streams itself.
SMALL_BYTES: Final = 256 * 1024
_ALGORITHMS: Final = {64: SHA256, 40: SHA1}
_LOWER_HEX: Final = re.compile(r"[0-9a-f]+")


class FastGet:
    """FastGet serves stored blobs to GET and HEAD, counting them as the Falcon app does."""

    def __init__(self, store: BlobStore, metrics: Metrics, tokens: Tokens | None = None) -> None:
        # Only a read token guards reads; without one this path checks nothing.
        self._tokens = tokens if tokens is not None and tokens.guards_reads else None
        self._root = str(store.root)  # paths as strings: pathlib costs more than the stat
        tally = Tally()
        requests = metrics.http.requests
        self._count = {
            (m, s): tally.counter(requests.labels(ROUTE, m, s))
            for m in ("GET", "HEAD")
            for s in ("2xx", "3xx")
        }
        duration = metrics.http.duration
        self._duration = {m: tally.histogram(duration.labels(ROUTE, m)) for m in ("GET", "HEAD")}
        self._sent = tally.counter(metrics.sent_bytes)

    def serve(self, scope: Any, protocol: Any) -> bool:
        """Serve answers the request and returns True, or returns False to leave it to Falcon."""
        method = scope.method
        path: str = scope.path
        if (method != "GET" and method != "HEAD") or not path.startswith(PREFIX):
            return False
        tokens = self._tokens
        if tokens is not None and not tokens.allows(method, scope.headers.get("authorization")):
            return False  # Falcon's TokenAuth answers the 401
        started = time.perf_counter()
        hexdigest = path[len(PREFIX) :]
        algorithm = _ALGORITHMS.get(len(hexdigest))
        if algorithm is None or _LOWER_HEX.fullmatch(hexdigest) is None:
            return False
        # The same layout as BlobStore.path, without pathlib on the hot path.
        file = f"{self._root}/{algorithm}/{hexdigest[:2]}/{hexdigest}"
        try:
            size = os.stat(file).st_size
        except FileNotFoundError:
            return False
        headers = scope.headers
        tag = etag(hexdigest)
        answer = [("etag", tag), ("cache-control", CACHE_CONTROL), ("accept-ranges", "bytes")]
        if none_match(headers.get("if-none-match"), tag):
            protocol.response_empty(304, answer)
            return self._counted(method, "3xx", started, 0)
        start, length, status = 0, size, 200
        if method == "GET" and if_range_allows(headers.get("if-range"), tag):
            try:
                byte_range = parse_range(headers.get("range"), size)
            except RangeNotSatisfiable:
                return False
            if byte_range is not None:
                start, length, status = byte_range.start, byte_range.length, 206
                answer.append(("content-range", byte_range.content_range))
        answer += [("content-type", OCTET_STREAM), ("content-length", str(length))]
        if method == "HEAD":
            protocol.response_empty(200, answer)
            return self._counted(method, "2xx", started, 0)
        if length <= SMALL_BYTES:
            protocol.response_bytes(status, answer, _read(file, start, length))
        elif status == 206:
            protocol.response_file_range(status, answer, file, start, start + length)
        else:
            protocol.response_file(status, answer, file)
        return self._counted(method, "2xx", started, length)

    def _counted(self, method: str, status: str, started: float, sent: int) -> bool:
        self._count[(method, status)].inc()
        self._duration[method].observe(time.perf_counter() - started)
        if sent:
            self._sent.inc(sent)
        return True


def _read(file: str, start: int, length: int) -> bytes:
    fd = os.open(file, os.O_RDONLY)
    try:
        return os.pread(fd, length, start)
    finally:
        os.close(fd)
