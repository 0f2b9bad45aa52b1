"""Prometheus view of the group's counters, read at scrape time.

A custom collector reads the plain counters only when /metrics is scraped, so a cache
hit never touches prometheus_client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

NAMESPACE = "cacheserver"


def snake(name: str) -> str:
    """Snake turns a groupcache counter name (LocalLoadErrs) into local_load_errs."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class GroupCollector(Collector):
    """GroupCollector exports a Group.stats() snapshot as cacheserver_* metrics."""

    def __init__(self, stats: Callable[[], dict[str, Any]], in_flight: Callable[[], int]) -> None:
        self._stats = stats
        self._in_flight = in_flight

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        snapshot = self._stats()
        for name, value in snapshot.items():
            if isinstance(value, int):
                yield CounterMetricFamily(
                    f"{NAMESPACE}_{snake(name)}", f"groupcache {name} counter.", value=value
                )
        size = GaugeMetricFamily(
            f"{NAMESPACE}_cache_bytes", "Bytes held by each cache.", labels=["cache"]
        )
        items = GaugeMetricFamily(
            f"{NAMESPACE}_cache_items", "Values held by each cache.", labels=["cache"]
        )
        evictions = CounterMetricFamily(
            f"{NAMESPACE}_cache_evictions", "Values evicted from each cache.", labels=["cache"]
        )
        for cache in ("main", "hot"):
            size.add_metric([cache], snapshot[cache]["bytes"])
            items.add_metric([cache], snapshot[cache]["items"])
            evictions.add_metric([cache], snapshot[cache]["evictions"])
        yield size
        yield items
        yield evictions
        yield GaugeMetricFamily(
            f"{NAMESPACE}_fills_in_flight", "Cache fills running now.", value=self._in_flight()
        )


class Metrics:
    """Metrics registers the cacheserver's collectors on an explicit registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        stats: Callable[[], dict[str, Any]],
        in_flight: Callable[[], int],
    ) -> None:
        self.registry = registry
        registry.register(GroupCollector(stats, in_flight))
