"""Tally: fast-path counts reach the metrics once per loop pass, exactly."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Histogram

from casserver.tally import HISTOGRAM_INTERNALS, Tally


def value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    got = registry.get_sample_value(name, labels or {})
    assert got is not None, name
    return got


def test_counts_are_written_after_the_loop_pass_not_before() -> None:
    registry = CollectorRegistry()
    counter = Counter("hits", "h", registry=registry)
    histogram = Histogram("took_seconds", "t", registry=registry, buckets=(0.001, 0.01))
    tally = Tally()
    hits, took = tally.counter(counter), tally.histogram(histogram)

    async def serve() -> float:
        for seconds in (0.0005, 0.001, 0.005, 0.5):
            hits.inc()
            took.observe(seconds)
        before = value(registry, "hits_total")
        await asyncio.sleep(0)  # one loop pass: the flush runs
        return before

    assert asyncio.run(serve()) == 0
    assert value(registry, "hits_total") == 4
    assert value(registry, "took_seconds_bucket", {"le": "0.001"}) == 2  # le: bound included
    assert value(registry, "took_seconds_bucket", {"le": "0.01"}) == 3
    assert value(registry, "took_seconds_bucket", {"le": "+Inf"}) == 4
    assert value(registry, "took_seconds_sum") == 0.5065


def test_off_the_loop_counts_are_written_at_once() -> None:
    registry = CollectorRegistry()
    slot = Tally().counter(Counter("sent_bytes", "s", registry=registry))
    slot.inc(25_000)
    assert value(registry, "sent_bytes_total") == 25_000


def test_prometheus_client_still_has_the_internals_bulk_writes_use() -> None:
    # Fails when a prometheus-client upgrade renames _upper_bounds, _buckets or _sum: the
    # server would still count right (one by one), but slower; refresh tally.py then.
    histogram = Histogram("internals_seconds", "t", registry=CollectorRegistry())
    slot = Tally().histogram(histogram)
    assert slot.bulk, [n for n in HISTOGRAM_INTERNALS if not hasattr(histogram, n)]
