"""FastGet: GET/HEAD of a stored blob answered on granian's event loop, before Falcon.

Falcon's request and response objects cost more than the rest of a small GET, and a
stored blob needs neither: this path answers small blobs from memory (a ``BlobCache``
of their bytes and prebuilt headers) and lets granian send bigger files (from Rust,
off the Python threads), with the same headers, Range, ETag and 304 answers as the
Falcon resource. Anything it does not answer with a blob (a bad digest, a missing
blob, an unsatisfiable range, a read without the read token) goes to Falcon, which
words the problem+json. Every check Falcon makes on reads must be made here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Final

from cascommon.blobheaders import OCTET_STREAM, none_match
from cascommon.digest import SHA1, SHA256
from cascommon.ranges import RangeNotSatisfiable, if_range_allows, parse_range
from casserver.auth import Tokens
from casserver.blobcache import BlobCache, Entry
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.storage import BlobStore
from casserver.tally import Tally

PREFIX: Final = "/cas/"
ROUTE: Final = "/cas/{digest}"
_ALGORITHMS: Final = {64: SHA256, 40: SHA1}
_LOWER_HEX: Final = re.compile(r"[0-9a-f]+")


class FastGet:
    """FastGet serves stored blobs to GET and HEAD, counting them as the Falcon app does."""

    def __init__(
        self,
        store: BlobStore,
        metrics: Metrics,
        tokens: Tokens | None = None,
        cache: BlobCache | None = None,
        recency: Recency | None = None,
    ) -> None:
        # Every answered read, from memory too, is a use the evictor must know of.
        self._used: Callable[[str], None] = recency.read if recency is not None else _ignore
        # Only a read token guards reads; without one this path checks nothing.
        self._tokens = tokens if tokens is not None and tokens.guards_reads else None
        self._root = str(store.root)  # paths as strings: pathlib costs more than the stat
        self._cache = cache if cache is not None else BlobCache(0, 0)
        tally = Tally()
        requests = metrics.http.requests
        self._count = {
            (m, s): tally.counter(requests.labels(ROUTE, m, s))
            for m in ("GET", "HEAD")
            for s in ("2xx", "3xx")
        }
        self._get_ok = self._count[("GET", "2xx")]
        duration = metrics.http.duration
        self._duration = {m: tally.histogram(duration.labels(ROUTE, m)) for m in ("GET", "HEAD")}
        self._get_duration = self._duration["GET"]
        self._sent = tally.counter(metrics.sent_bytes)

    def serve(self, scope: Any, protocol: Any) -> bool:
        """Serve answers the request and returns True, or returns False to leave it to Falcon."""
        method = scope.method
        if method != "GET" and method != "HEAD":
            return False
        tokens = self._tokens
        if tokens is not None and not tokens.allows(method, scope.headers.get("authorization")):
            return False  # Falcon's TokenAuth answers the 401
        started = time.perf_counter()
        path: str = scope.path
        entry = self._cache.get(path, started)
        if entry is None:
            entry = self._load(path, started)
            if entry is None:
                return False
        self._used(entry.file)
        headers = scope.headers
        if_none_match = headers.get("if-none-match")
        if if_none_match and none_match(if_none_match, entry.tag):
            protocol.response_empty(304, entry.validators)
            return self._counted(method, "3xx", started, 0)
        if method == "HEAD":
            protocol.response_empty(200, entry.full)
            return self._counted(method, "2xx", started, 0)
        range_header = headers.get("range")
        if not range_header:
            # The plain GET, most of them: prebuilt headers, bytes from memory if small.
            data = entry.data
            if data is not None:
                protocol.response_bytes(200, entry.full, data)
            else:
                protocol.response_file(200, entry.full, entry.file)
            self._get_ok.inc()
            self._get_duration.observe(time.perf_counter() - started)
            self._sent.inc(entry.size)
            return True
        return self._ranged(entry, headers, range_header, protocol, started)

    def _load(self, path: str, now: float) -> Entry | None:
        if not path.startswith(PREFIX):
            return None
        hexdigest = path[len(PREFIX) :]
        algorithm = _ALGORITHMS.get(len(hexdigest))
        if algorithm is None or _LOWER_HEX.fullmatch(hexdigest) is None:
            return None
        # The same layout as BlobStore.path, without pathlib on the hot path.
        file = f"{self._root}/{algorithm}/{hexdigest[:2]}/{hexdigest}"
        return self._cache.load(path, file, hexdigest, now)

    def _ranged(
        self, entry: Entry, headers: Any, range_header: str, protocol: Any, started: float
    ) -> bool:
        start, length, status, answer = 0, entry.size, 200, entry.full
        if if_range_allows(headers.get("if-range"), entry.tag):
            try:
                byte_range = parse_range(range_header, entry.size)
            except RangeNotSatisfiable:
                return False
            if byte_range is not None:
                start, length, status = byte_range.start, byte_range.length, 206
                answer = [
                    *entry.validators,
                    ("content-range", byte_range.content_range),
                    ("content-type", OCTET_STREAM),
                    ("content-length", str(length)),
                ]
        data = entry.data
        if data is not None:
            protocol.response_bytes(status, answer, data[start : start + length])
        elif status == 206:
            protocol.response_file_range(status, answer, entry.file, start, start + length)
        else:
            protocol.response_file(status, answer, entry.file)
        return self._counted("GET", "2xx", started, length)

    def _counted(self, method: str, status: str, started: float, sent: int) -> bool:
        self._count[(method, status)].inc()
        self._duration[method].observe(time.perf_counter() - started)
        if sent:
            self._sent.inc(sent)
        return True


def _ignore(file: str) -> None:
    """Record nothing: without a budget no read needs recording."""
