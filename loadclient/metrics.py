"""Metrics: what happened, accumulated per Result in constant memory and merged across workers.

Errors are data: every request adds one Result, whatever went wrong with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import sub
from typing import Final, TypeVar

from loadclient.histogram import Histogram
from loadclient.result import (  # noqa: F401 - re-exported: the error kinds' old home
    CONNECT,
    ERROR_KINDS,
    GENERATOR,
    INTEGRITY,
    PROTOCOL,
    STATUS,
    TIMEOUT,
    Result,
)
from loadclient.series import Series

K = TypeVar("K")

# A 200 whose body was found right, as Metrics.add_successes takes it (a tuple: it is made
# for nearly every request): due, sent and done times (monotonic ns), body bytes, X-Cache
# and which of --keys it asked for (-1: none).
Success = tuple[int, int, int, int, bytes | None, int]

MAX_DISTINCT_ERRORS: Final = 100
MAX_KEY_RANKS: Final = 1000  # per-key request counts kept for the first this many keys

CACHE_RESULTS: Final = ("hit", "peer", "miss", "none", "other")
_CACHE_KEYS: Final[dict[bytes | None, str]] = {
    None: "none", b"hit": "hit", b"peer": "peer", b"miss": "miss",
    b"HIT": "hit", b"PEER": "peer", b"MISS": "miss",
}  # fmt: skip


class Metrics:
    """Metrics accumulates results: counts, histograms (latency, service time, send lag), series."""

    def __init__(self, interval_ns: int) -> None:
        self.start_ns = 0  # monotonic start of the schedule: series offsets count from it
        self.requests = 0
        self.successes = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.status_codes: dict[int, int] = {}
        self.errors: list[str] = []
        self.error_counts: dict[str, int] = dict.fromkeys(ERROR_KINDS, 0)
        self.cache: dict[str, int] = dict.fromkeys(CACHE_RESULTS, 0)
        self.cache_bytes: dict[str, int] = dict.fromkeys(CACHE_RESULTS, 0)
        self.key_counts: dict[int, int] = {}
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
        self.dropped = 0  # due within --duration but never sent: no Result, not in requests
        self.pool_waits = 0  # requests that waited for a free connection
        self.pool_limit = 0  # the largest connection pool of one process
        self.fd_limited = False  # the pool limit was lowered to fit RLIMIT_NOFILE
        self.stopped_early = ""  # capacity: who decided the step early (stoprule), else ""

    def add(self, r: Result) -> None:
        """Add records one request's Result."""
        self.requests += 1
        codes = self.status_codes
        status = r.status
        codes[status] = codes.get(status, 0) + 1
        self.bytes_in += r.bytes_in
        self.bytes_out += r.bytes_out
        due_ns, sent_ns, done_ns = r.due_ns, r.sent_ns, r.done_ns
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
        kind = r.error_kind
        if kind is None:
            self.successes += 1
        else:
            self.error_counts[kind] += 1
            if len(self.errors) < MAX_DISTINCT_ERRORS and r.error not in self.errors:
                self.errors.append(r.error)
        if 0 <= r.key < MAX_KEY_RANKS:
            self.key_counts[r.key] = self.key_counts.get(r.key, 0) + 1
        if status == 200:
            # A body cut short (closed early, timed out) was never compared with the digest.
            if kind is None or kind == INTEGRITY:
                self.bodies_checked += 1
            key = _CACHE_KEYS.get(r.cache) or _cache_result(r.cache)
            self.cache[key] += 1
            self.cache_bytes[key] += r.bytes_in
        self.series.add(due_ns - self.start_ns, latency, bucket, status, kind is not None)

    def add_successes(self, batch: Sequence[Success]) -> None:
        """Add_successes records 200s whose body was found right: add() of each, in bulk.

        Nearly every request is one of these; in batches, most of the work per request is
        done by C (zip, map, sum, min, max, Counter) rather than by ~40 lines of Python.
        """
        n = len(batch)
        if not n:
            return
        dues, sents, dones, sizes, caches, keys = zip(*batch, strict=True)
        self.requests += n
        self.successes += n
        self.bodies_checked += n
        self.status_codes[200] = self.status_codes.get(200, 0) + n
        self.bytes_in += sum(sizes)
        first, last = min(sents), max(sents)
        if first < self.earliest_ns or not self.earliest_ns:
            self.earliest_ns = first
        self.latest_ns = max(self.latest_ns, last)
        self.end_ns = max(self.end_ns, max(dones))
        self.send_lag.record_all(list(map(sub, sents, dues)))
        self.service.record_all(list(map(sub, dones, sents)))
        latencies = list(map(sub, dones, dues))
        buckets = self.latency.record_all(latencies)
        if caches.count(caches[0]) == n and sizes.count(sizes[0]) == n:
            by_cache = {(caches[0], sizes[0]): n}  # the common case, without hashing each
        else:
            by_cache = Counter(zip(caches, sizes, strict=True))
        for (cache, size), count in by_cache.items():
            key = _CACHE_KEYS.get(cache) or _cache_result(cache)
            self.cache[key] += count
            self.cache_bytes[key] += size * count
        if max(keys) >= 0:
            for k, count in Counter(keys).items():
                if 0 <= k < MAX_KEY_RANKS:
                    self.key_counts[k] = self.key_counts.get(k, 0) + count
        start = self.start_ns
        self.series.add_successes([d - start for d in dues], latencies, buckets)

    def merge(self, other: Metrics) -> None:
        """Merge adds another worker's metrics to these."""
        self.requests += other.requests
        self.successes += other.successes
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for e in other.errors:
            if len(self.errors) < MAX_DISTINCT_ERRORS and e not in self.errors:
                self.errors.append(e)
        add_counts(self.status_codes, other.status_codes)
        add_counts(self.error_counts, other.error_counts)
        add_counts(self.cache, other.cache)
        add_counts(self.cache_bytes, other.cache_bytes)
        add_counts(self.key_counts, other.key_counts)
        self.bodies_checked += other.bodies_checked
        self.cpu_s += other.cpu_s
        self.interrupted = self.interrupted or other.interrupted
        self.dropped += other.dropped
        self.pool_waits += other.pool_waits
        self.pool_limit = max(self.pool_limit, other.pool_limit)
        self.fd_limited = self.fd_limited or other.fd_limited
        self.stopped_early = self.stopped_early or other.stopped_early
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.send_lag.merge(other.send_lag)
        if other.earliest_ns and (self.earliest_ns == 0 or other.earliest_ns < self.earliest_ns):
            self.earliest_ns = other.earliest_ns
        self.latest_ns = max(self.latest_ns, other.latest_ns)
        self.end_ns = max(self.end_ns, other.end_ns)
        self.series.merge(other.series)


def add_counts(mine: dict[K, int], theirs: dict[K, int]) -> None:
    """Add_counts adds theirs into mine, key by key."""
    for k, v in theirs.items():
        mine[k] = mine.get(k, 0) + v


def _cache_result(value: bytes | None) -> str:
    if value is None:
        return "none"
    text = value.decode("latin-1").strip().lower()
    return text if text in ("hit", "peer", "miss") else "other"
