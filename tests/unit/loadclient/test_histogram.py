"""Histogram percentiles against exact nearest-rank percentiles on random data."""

from __future__ import annotations

import math
import random

import pytest

from loadclient.histogram import (
    BUCKETS,
    MAX_VALUE,
    RELATIVE_ERROR,
    Histogram,
    bucket_bounds,
    bucket_index,
)

QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0)


def exact(sorted_values: list[int], q: float) -> int:
    rank = max(1, math.ceil(q * len(sorted_values) - 1e-9))
    return sorted_values[rank - 1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "draw",
    [
        lambda r: int(r.lognormvariate(math.log(2e6), 1.0)),  # ~2 ms, long tail
        lambda r: r.randrange(0, 5_000),  # tiny values: exact buckets
        lambda r: int(r.expovariate(1 / 3e8)),  # ~300 ms
        lambda r: r.choice([150_000, 2_000_000_000]),  # bimodal
    ],
)
def test_percentiles_within_relative_error(seed: int, draw: object) -> None:
    r = random.Random(seed)
    values = [draw(r) for _ in range(20_000)]  # type: ignore[operator]
    h = Histogram()
    for v in values:
        h.record(v)
    values.sort()
    got = h.percentiles(QUANTILES)
    for q, g in zip(QUANTILES, got, strict=True):
        want = exact(values, q)
        assert abs(g - want) <= want * RELATIVE_ERROR, (q, g, want)
    assert (h.min, h.max, h.total, h.sum) == (values[0], values[-1], len(values), sum(values))
    assert h.mean() == pytest.approx(sum(values) / len(values))


def test_relative_error_is_about_three_significant_digits() -> None:
    assert RELATIVE_ERROR < 0.0005 + 1e-12


def test_buckets_tile_the_range_without_gaps() -> None:
    previous_high = 0
    for i in range(BUCKETS):
        low, high = bucket_bounds(i)
        assert low == previous_high
        assert bucket_index(low) == i and bucket_index(high - 1) == i
        assert (high - low) <= max(1, low * 2 * RELATIVE_ERROR)
        previous_high = high
    assert previous_high > MAX_VALUE


def test_memory_is_constant() -> None:
    h = Histogram()
    size = len(h.counts)
    for v in range(0, 10**12, 10**7):
        h.record(v)
    assert len(h.counts) == size


def test_merge_equals_recording_everything_in_one() -> None:
    r = random.Random(7)
    values = [int(r.lognormvariate(14, 2)) for _ in range(5_000)]
    whole, a, b = Histogram(), Histogram(), Histogram()
    for i, v in enumerate(values):
        whole.record(v)
        (a if i % 3 else b).record(v)
    a.merge(b)
    assert a.counts == whole.counts
    assert (a.total, a.sum, a.min, a.max) == (whole.total, whole.sum, whole.min, whole.max)
    assert Histogram.from_dict(a.to_dict()).percentiles(QUANTILES) == whole.percentiles(QUANTILES)


def test_empty_and_out_of_range() -> None:
    h = Histogram()
    assert h.percentiles([0.5, 0.99]) == [0, 0]
    h.record(-5)
    h.record(MAX_VALUE * 4)
    assert (h.min, h.max) == (0, MAX_VALUE)


def test_record_all_is_record_of_each() -> None:
    r = random.Random(7)
    values = [int(r.lognormvariate(math.log(2e6), 2.0)) for _ in range(5_000)]
    values += [-3, 0, 1, 2047, 2048, 2049, MAX_VALUE, MAX_VALUE + 1, 2**50]
    each, bulk = Histogram(), Histogram()
    buckets = [each.record(v) for v in values]
    assert bulk.record_all(values[:100]) + bulk.record_all(values[100:]) == buckets
    assert (bulk.counts, bulk.total, bulk.sum, bulk.min, bulk.max) == (
        each.counts, each.total, each.sum, each.min, each.max,
    )  # fmt: skip
    assert bulk.record_all([]) == [] and bulk.total == len(values)
