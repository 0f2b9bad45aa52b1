"""Per-interval summaries of an attack, for the HTML report's over-time charts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Final

from loadclient.durations import NS_PER_S
from loadclient.histogram import bucket_bounds

MAX_POINTS: Final = 600
COARSE_SHIFT: Final = 6  # 64 histogram buckets in one: ~6 % wide, plenty for a chart


def interval_for(duration_ns: int) -> int:
    """Interval_for picks the interval width: 100 ms, widened so a run has at most 600 points."""
    return max(NS_PER_S // 10, -(-duration_ns // MAX_POINTS))


class Point:
    """Point summarises the requests due in one interval."""

    __slots__ = ("count", "errors", "max_ns", "buckets", "codes")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.max_ns = 0
        self.buckets: dict[int, int] = {}
        self.codes: dict[int, int] = {}

    def merge(self, other: Point) -> None:
        """Merge adds other's requests to this point."""
        self.count += other.count
        self.errors += other.errors
        self.max_ns = max(self.max_ns, other.max_ns)
        for mine, theirs in ((self.buckets, other.buckets), (self.codes, other.codes)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


class Series:
    """Series keeps, per interval since the start, counts, errors, coarse latency buckets, codes."""

    __slots__ = ("interval_ns", "points")

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.points: dict[int, Point] = {}

    def add(self, offset_ns: int, latency_ns: int, bucket: int, status: int, error: bool) -> None:
        """Add counts one request due offset_ns after the start; bucket is its Histogram index."""
        i = offset_ns // self.interval_ns if offset_ns > 0 else 0
        self._add_counts(i, 1, {bucket >> COARSE_SHIFT: 1}, latency_ns, status, int(error))

    def add_successes(
        self, offsets_ns: list[int], latencies_ns: list[int], buckets: list[int]
    ) -> None:
        """Add_successes is add() of each 200 without error, in bulk (equal-length lists)."""
        width = self.interval_ns
        intervals = [o // width if o > 0 else 0 for o in offsets_ns]
        coarse = [b >> COARSE_SHIFT for b in buckets]
        first = intervals[0]
        if intervals.count(first) == len(intervals):  # most batches fall in one interval
            self._add_counts(first, len(intervals), Counter(coarse), max(latencies_ns))
            return
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for i, b, latency in zip(intervals, coarse, latencies_ns, strict=True):
            bs, latencies = groups.setdefault(i, ([], []))
            bs.append(b)
            latencies.append(latency)
        for i, (bs, latencies) in groups.items():
            self._add_counts(i, len(bs), Counter(bs), max(latencies))

    def _add_counts(
        self, i: int, n: int, buckets: Mapping[int, int], max_ns: int, status: int = 200,
        errors: int = 0,
    ) -> None:  # fmt: skip
        # n requests of one status in interval i, by coarse bucket; the one place points grow.
        p = self.points.get(i)
        if p is None:
            p = self.points[i] = Point()
        p.count += n
        p.errors += errors
        p.max_ns = max(p.max_ns, max_ns)
        mine = p.buckets
        for b, count in buckets.items():
            mine[b] = mine.get(b, 0) + count
        p.codes[status] = p.codes.get(status, 0) + n

    def merge(self, other: Series) -> None:
        """Merge adds another process's points (same interval width)."""
        for i, q in other.points.items():
            self.points.setdefault(i, Point()).merge(q)

    def rows(self) -> list[dict[str, object]]:
        """Rows are the points in time order: t_s, count, errors, p50/p99/max (ns), codes."""
        out: list[dict[str, object]] = []
        for i in sorted(self.points):
            p = self.points[i]
            p50, p99 = _quantiles(p.buckets, p.count, (0.5, 0.99))
            out.append(
                {
                    "t_s": i * self.interval_ns / NS_PER_S,
                    "count": p.count,
                    "errors": p.errors,
                    "p50_ns": min(p50, p.max_ns),
                    "p99_ns": min(p99, p.max_ns),
                    "max_ns": p.max_ns,
                    "status_codes": {str(k): v for k, v in sorted(p.codes.items())},
                }
            )
        return out


def _quantiles(buckets: dict[int, int], total: int, qs: tuple[float, ...]) -> list[int]:
    out: list[int] = []
    keys = sorted(buckets)
    for q in qs:
        rank, seen, value = max(1, math.ceil(q * total)), 0, 0
        for k in keys:
            seen += buckets[k]
            if seen >= rank:
                low = bucket_bounds(k << COARSE_SHIFT)[0]
                high = bucket_bounds(((k + 1) << COARSE_SHIFT) - 1)[1]
                value = (low + high) // 2
                break
        out.append(value)
    return out
