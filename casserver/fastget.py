"""FastGet: GET/HEAD of a stored blob answered on granian's event loop, before Falcon.

Falcon's request and response objects cost more than the rest of a small GET, and a
stored blob needs neither: this path answers small blobs from memory (a ``BlobCache``
of their bytes and prebuilt headers) and lets granian send bigger files (from Rust,
off the Python threads). What it answers is the plan ``getplan.decide`` makes, the
same one the Falcon resource renders. A stored file that is not its blob (``blobsize``)
or cannot be read is a 500 problem+json here, before granian could send it. Anything
else it does not answer with a blob (a bad digest, a missing blob, an unsatisfiable
range, a read without the read token) goes to Falcon, which words the problem+json.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any, Final

from cascommon.digest import SHA1, SHA256
from cascommon.problem import PROBLEM_JSON, problem_body
from cascommon.ranges import RangeNotSatisfiable
from casserver.auth import Tokens
from casserver.blobcache import BlobCache, Entry
from casserver.blobfile import UnreadableBlob
from casserver.blobsize import DamagedBlob
from casserver.getplan import Plan, decide, joined
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.storage import BlobStore
from casserver.tally import CounterSlot, Tally

log = logging.getLogger("casserver.errors")

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
        # By status, labelled by its class as the Falcon middleware does: one slot per
        # class (each slot costs every flush), 200 and 206 sharing theirs.
        self._count: dict[tuple[str, int], CounterSlot] = {}
        for m in ("GET", "HEAD"):
            ok, not_modified = (tally.counter(requests.labels(ROUTE, m, c)) for c in ("2xx", "3xx"))
            self._count |= {(m, 200): ok, (m, 206): ok, (m, 304): not_modified}
        duration = metrics.http.duration
        self._duration = {m: tally.histogram(duration.labels(ROUTE, m)) for m in ("GET", "HEAD")}
        self._sent = tally.counter(metrics.sent_bytes)
        # Errors are rare: counted straight away, not tallied (no slot for every flush).
        self._errors = {m: requests.labels(ROUTE, m, "5xx") for m in ("GET", "HEAD")}
        self._read_errors = metrics.read_errors

    def serve(self, scope: Any, protocol: Any) -> int:
        """Serve answers the request and returns the status it sent, or 0 to leave it to Falcon."""
        method = scope.method
        if method != "GET" and method != "HEAD":
            return 0
        tokens = self._tokens
        if tokens is not None and not tokens.allows(method, scope.headers.get("authorization")):
            return 0  # Falcon's TokenAuth answers the 401
        started = time.perf_counter()
        path: str = scope.path
        entry = self._cache.get(path, started)
        if entry is None:
            try:
                entry = self._load(path, started)
            except (DamagedBlob, UnreadableBlob) as exc:
                return self._refuse(method, path, exc, protocol, started)
            if entry is None:
                return 0
        self._used(entry.file)
        plan = _plan(method, entry, scope.headers)
        if plan is None:
            return 0  # an unsatisfiable range: Falcon words the 416
        if not plan.has_body:
            protocol.response_empty(plan.status, plan.headers)
        elif entry.data is not None:
            data = entry.data
            if plan.length != entry.size:
                data = data[plan.start : plan.start + plan.length]
            protocol.response_bytes(plan.status, plan.headers, data)
        elif plan.status == 206:
            protocol.response_file_range(
                206, plan.headers, entry.file, plan.start, plan.start + plan.length
            )
        else:
            protocol.response_file(200, plan.headers, entry.file)
        self._count[(method, plan.status)].inc()
        self._duration[method].observe(time.perf_counter() - started)
        if plan.has_body:
            self._sent.inc(plan.length)
        return plan.status

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

    def _refuse(self, method: str, path: str, exc: OSError, protocol: Any, started: float) -> int:
        """Answer 500 for a stored file that is not its blob or cannot be read, HEAD too."""
        reason = getattr(exc, "reason", "unreadable")
        title = "Stored blob damaged" if reason != "unreadable" else "Stored blob unreadable"
        log.error(
            "request failed",
            extra={"method": method, "route": ROUTE, "status": 500, "title": title,
                   "detail": exc.strerror, "reason": reason, "digest": path[len(PREFIX) :]},
        )  # fmt: skip
        self._read_errors.labels(reason).inc()
        body = problem_body(500, title, exc.strerror)
        headers = [("content-type", PROBLEM_JSON), ("content-length", str(len(body)))]
        if method == "HEAD":
            protocol.response_empty(500, headers)
        else:
            protocol.response_bytes(500, headers, body)
        self._errors[method].inc()
        self._duration[method].observe(time.perf_counter() - started)
        return 500


def _plan(method: str, entry: Entry, headers: Any) -> Plan | None:
    """Plan is getplan's decision for the request; None for an unsatisfiable range."""
    # Most requests have neither header: one lookup each, and no joining.
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if_none_match = joined(headers, "if-none-match")
    range_header = headers.get("range") if method == "GET" else None
    if_range = None
    if range_header is not None:
        range_header = joined(headers, "range")
        if_range = joined(headers, "if-range")
    try:
        return decide(method, entry, if_none_match, if_range, range_header)
    except RangeNotSatisfiable:
        return None


def _ignore(file: str) -> None:
    """Record nothing: without a budget no read needs recording."""
