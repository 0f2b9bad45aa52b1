"""Metrics: what happened, accumulated per request in constant memory and merged across workers.

Errors are data: every request adds one result, whatever went wrong with it.
"""

from __future__ import annotations

from typing import Final

from loadclient.histogram import Histogram
from loadclient.series import COARSE_SHIFT, Series

MAX_DISTINCT_ERRORS: Final = 100

# Error kinds, the keys of Metrics.error_counts.
CONNECT: Final = "connect"  # the TCP connection could not be opened
TIMEOUT: Final = "timeout"  # no complete response within --timeout
STATUS: Final = "status"  # an HTTP status other than 200
INTEGRITY: Final = "integrity"  # 200, but the body does not hash to the digest
PROTOCOL: Final = "protocol"  # connection closed early or an unparseable response
ERROR_KINDS: Final = (CONNECT, TIMEOUT, STATUS, INTEGRITY, PROTOCOL)

CACHE_RESULTS: Final = ("hit", "peer", "miss", "none", "other")
_CACHE_KEYS: Final[dict[bytes | None, str]] = {
    None: "none", b"hit": "hit", b"peer": "peer", b"miss": "miss",
    b"HIT": "hit", b"PEER": "peer", b"MISS": "miss",
}  # fmt: skip


class Metrics:
    """Metrics accumulates results: counts, histograms (latency, service time, send lag), series."""

    def __init__(self, interval_ns: int) -> None:
        self.requests = 0
        self.successes = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.status_codes: dict[int, int] = {}
        self.errors: list[str] = []
        self.error_counts: dict[str, int] = dict.fromkeys(ERROR_KINDS, 0)
        self.cache: dict[str, int] = dict.fromkeys(CACHE_RESULTS, 0)
        self.bodies_checked = 0
        self.latency = Histogram()
        self.service = Histogram()
        self.send_lag = Histogram()
        self.earliest_ns = 0  # monotonic send (or attempt) time of the first request
        self.latest_ns = 0  # monotonic send (or attempt) time of the last request
        self.end_ns = 0  # monotonic time the last response completed
        self.series = Series(interval_ns)
        self.cpu_s = 0.0  # CPU time (user + system) the attacking processes used
        self.interrupted = False  # stopped early (Ctrl-C): the counts cover a partial run

    def add(
        self,
        start_ns: int,
        due_ns: int,
        sent_ns: int,
        done_ns: int,
        status: int,
        bytes_in: int,
        bytes_out: int,
        error_kind: str | None,
        error: str,
        cache: bytes | None,
    ) -> None:
        """Add records one request: due, sent (0 if never sent) and completion times (monotonic)."""
        self.requests += 1
        codes = self.status_codes
        codes[status] = codes.get(status, 0) + 1
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        latency = done_ns - due_ns
        bucket = self.latency.record(latency)
        if sent_ns:
            self.service.record(done_ns - sent_ns)
            self.send_lag.record(sent_ns - due_ns)
        # A request that never got onto the wire (refused connect) was still attempted
        # when it fell due: like vegeta's result timestamps, it bounds the attack too.
        attempted_ns = sent_ns or due_ns
        if attempted_ns < self.earliest_ns or not self.earliest_ns:
            self.earliest_ns = attempted_ns
        if attempted_ns > self.latest_ns:
            self.latest_ns = attempted_ns
        if done_ns > self.end_ns:
            self.end_ns = done_ns
        if error_kind is None:
            self.successes += 1
        else:
            self.error_counts[error_kind] += 1
            if len(self.errors) < MAX_DISTINCT_ERRORS and error not in self.errors:
                self.errors.append(error)
        if status == 200:
            # A body cut short (closed early, timed out) was never compared with the digest.
            if error_kind is None or error_kind == INTEGRITY:
                self.bodies_checked += 1
            key = _CACHE_KEYS.get(cache) or _cache_result(cache)
            self.cache[key] += 1
        self.series.add(due_ns - start_ns, latency, bucket, status, error_kind is not None)

    def add_success(
        self, start_ns: int, due_ns: int, sent_ns: int, done_ns: int, bytes_in: int,
        cache: bytes | None,
    ) -> None:  # fmt: skip
        """Add_success is add for the common case, a 200 with the right body: the hot path."""
        self.requests += 1
        self.successes += 1
        self.bodies_checked += 1
        codes = self.status_codes
        codes[200] = codes.get(200, 0) + 1
        self.bytes_in += bytes_in
        latency = done_ns - due_ns
        bucket = self.latency.record(latency)
        self.service.record(done_ns - sent_ns)
        self.send_lag.record(sent_ns - due_ns)
        if sent_ns < self.earliest_ns or not self.earliest_ns:
            self.earliest_ns = sent_ns
        if sent_ns > self.latest_ns:
            self.latest_ns = sent_ns
        if done_ns > self.end_ns:
            self.end_ns = done_ns
        self.cache[_CACHE_KEYS.get(cache) or _cache_result(cache)] += 1
        # Series.add inlined: this runs for nearly every request.
        series = self.series
        offset = due_ns - start_ns
        p = series.points.get(offset // series.interval_ns if offset > 0 else 0)
        if p is None:
            series.add(offset, latency, bucket, 200, False)
            return
        p.count += 1
        if latency > p.max_ns:
            p.max_ns = latency
        b = bucket >> COARSE_SHIFT
        buckets, codes = p.buckets, p.codes
        buckets[b] = buckets.get(b, 0) + 1
        codes[200] = codes.get(200, 0) + 1

    def merge(self, other: Metrics) -> None:
        """Merge adds another worker's metrics to these."""
        self.requests += other.requests
        self.successes += other.successes
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for code, n in other.status_codes.items():
            self.status_codes[code] = self.status_codes.get(code, 0) + n
        for e in other.errors:
            if len(self.errors) < MAX_DISTINCT_ERRORS and e not in self.errors:
                self.errors.append(e)
        for k, v in other.error_counts.items():
            self.error_counts[k] = self.error_counts.get(k, 0) + v
        for k, v in other.cache.items():
            self.cache[k] = self.cache.get(k, 0) + v
        self.bodies_checked += other.bodies_checked
        self.cpu_s += other.cpu_s
        self.interrupted = self.interrupted or other.interrupted
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.send_lag.merge(other.send_lag)
        if other.earliest_ns and (self.earliest_ns == 0 or other.earliest_ns < self.earliest_ns):
            self.earliest_ns = other.earliest_ns
        self.latest_ns = max(self.latest_ns, other.latest_ns)
        self.end_ns = max(self.end_ns, other.end_ns)
        self.series.merge(other.series)


def _cache_result(value: bytes | None) -> str:
    if value is None:
        return "none"
    text = value.decode("latin-1").strip().lower()
    return text if text in ("hit", "peer", "miss") else "other"
