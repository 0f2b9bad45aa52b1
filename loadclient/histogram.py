"""A log-linear latency histogram with bounded relative error and constant memory.

Like HdrHistogram: values below 2048 get a bucket each; above, every power-of-two range is
cut into 1024 equal buckets, so a bucket is never wider than 1/1024 of its lower bound.
Reporting a bucket's midpoint (clamped to the exact min and max) keeps every percentile
within 1/2048 (~0.05 %) of a value actually recorded at that rank: three significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Final

SUB_BUCKETS: Final = 2048
HALF: Final = SUB_BUCKETS // 2
_SUB_BITS: Final = SUB_BUCKETS.bit_length() - 1  # 11
MAX_VALUE: Final = (1 << 44) - 1  # ~4.9 hours in nanoseconds; larger values saturate
RELATIVE_ERROR: Final = 1 / (2 * HALF)


def bucket_index(value: int) -> int:
    """Bucket_index maps a non-negative value to its bucket."""
    if value < SUB_BUCKETS:
        return value
    shift = value.bit_length() - _SUB_BITS
    return SUB_BUCKETS + (shift - 1) * HALF + (value >> shift) - HALF


def bucket_bounds(index: int) -> tuple[int, int]:
    """Bucket_bounds returns the lowest value of a bucket and the lowest of the next one."""
    if index < SUB_BUCKETS:
        return index, index + 1
    shift, sub = divmod(index - SUB_BUCKETS, HALF)
    shift += 1
    low = (sub + HALF) << shift
    return low, low + (1 << shift)


BUCKETS: Final = bucket_index(MAX_VALUE) + 1


class Histogram:
    """Histogram counts values (nanoseconds) in log-linear buckets; exact count, sum, min, max."""

    __slots__ = ("counts", "total", "sum", "min", "max")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.total = 0
        self.sum = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> int:
        """Record adds one value (negatives count as 0, huge ones saturate); returns its bucket."""
        # bucket_index inlined: this runs several times per request on the hot path.
        if value < SUB_BUCKETS:
            if value < 0:
                value = 0
            index = value
        else:
            if value > MAX_VALUE:
                value = MAX_VALUE
            shift = value.bit_length() - _SUB_BITS
            index = SUB_BUCKETS + (shift - 1) * HALF + (value >> shift) - HALF
        self.counts[index] += 1
        if value > self.max:
            self.max = value
        if value < self.min or not self.total:
            self.min = value
        self.total += 1
        self.sum += value
        return index

    def record_all(self, values: list[int]) -> list[int]:
        """Record_all records each of values as record() would; returns their buckets, in order."""
        if not values:
            return []
        low, high = min(values), max(values)
        if low < 0 or high > MAX_VALUE:
            values = [0 if v < 0 else MAX_VALUE if v > MAX_VALUE else v for v in values]
            low, high = min(values), max(values)
        # bucket_index, inlined and simplified: SUB_BUCKETS + (shift - 1) * HALF - HALF is
        # shift * HALF. The loop runs once per value of a batch: the rest is C.
        buckets = [
            v if v < SUB_BUCKETS else ((s := v.bit_length() - _SUB_BITS) * HALF) + (v >> s)
            for v in values
        ]
        counts = self.counts
        for index in buckets:
            counts[index] += 1
        if high > self.max:
            self.max = high
        if low < self.min or not self.total:
            self.min = low
        self.total += len(values)
        self.sum += sum(values)
        return buckets

    def merge(self, other: Histogram) -> None:
        """Merge adds other's values to this histogram."""
        if other.total == 0:
            return
        for i, c in enumerate(other.counts):
            if c:
                self.counts[i] += c
        self.min = other.min if self.total == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.sum += other.sum

    def mean(self) -> float:
        """Mean is the exact arithmetic mean (0 when empty)."""
        return self.sum / self.total if self.total else 0.0

    def percentiles(self, quantiles: Iterable[float]) -> list[int]:
        """Percentiles returns the nearest-rank value for each quantile (0..1), ascending order."""
        qs = list(quantiles)
        if self.total == 0:
            return [0 for _ in qs]
        order = sorted(range(len(qs)), key=lambda i: qs[i])
        out = [0] * len(qs)
        it = iter(order)
        pending = next(it, None)
        seen = 0
        for index, count in self._nonzero():
            seen += count
            while pending is not None and seen >= self._rank(qs[pending]):
                out[pending] = self._value_of(index)
                pending = next(it, None)
            if pending is None:
                break
        while pending is not None:
            out[pending] = self.max
            pending = next(it, None)
        return out

    def percentile(self, quantile: float) -> int:
        """Percentile returns the nearest-rank value at quantile (0..1)."""
        return self.percentiles([quantile])[0]

    def buckets(self) -> Iterator[tuple[int, int, int]]:
        """Buckets yields (low, high, count) for every non-empty bucket, ascending."""
        for index, count in self._nonzero():
            low, high = bucket_bounds(index)
            yield low, high, count

    def to_dict(self) -> dict[str, object]:
        """To_dict is a compact, picklable and JSON-able form (sparse counts)."""
        return {
            "counts": {str(i): c for i, c in self._nonzero()},
            "total": self.total,
            "sum": self.sum,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Histogram:
        """From_dict rebuilds a histogram written by to_dict."""
        h = cls()
        counts = data["counts"]
        assert isinstance(counts, dict)
        for i, c in counts.items():
            h.counts[int(i)] = int(c)
        h.total, h.sum = int(str(data["total"])), int(str(data["sum"]))
        h.min, h.max = int(str(data["min"])), int(str(data["max"]))
        return h

    def _rank(self, quantile: float) -> int:
        # Nearest rank: the smallest value with at least quantile*total values at or below it.
        return max(1, min(self.total, math.ceil(quantile * self.total - 1e-9)))

    def _value_of(self, index: int) -> int:
        low, high = bucket_bounds(index)
        mid = (low + high - 1) // 2 if high - low > 1 else low
        return min(max(mid, self.min), self.max)

    def _nonzero(self) -> Iterator[tuple[int, int]]:
        return ((i, c) for i, c in enumerate(self.counts) if c)
