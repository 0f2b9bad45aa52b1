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

from cacheserver.gate import GateStats
from cacheserver.health import State

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


class IsolationCollector(Collector):
    """IsolationCollector exports each bulkhead's occupancy and refusals, each upstream's state.

    Labels stay bounded: bulkheads are named by kind and by configured peer, and peers
    are few.
    """

    def __init__(
        self,
        gates: Callable[[], list[GateStats]],
        health: Callable[[], list[tuple[str, State]]],
    ) -> None:
        self._gates = gates
        self._health = health

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            f"{NAMESPACE}_bulkhead_in_use", "Places taken in each bulkhead now.",
            labels=["bulkhead"],
        )  # fmt: skip
        limit = GaugeMetricFamily(
            f"{NAMESPACE}_bulkhead_limit", "Size of each bulkhead.", labels=["bulkhead"]
        )
        rejected = CounterMetricFamily(
            f"{NAMESPACE}_bulkhead_rejections",
            "Requests a full bulkhead refused (503) or rerouted.", labels=["bulkhead"],
        )  # fmt: skip
        for gate in self._gates():
            in_use.add_metric([gate.name], gate.in_use)
            limit.add_metric([gate.name], gate.limit)
            rejected.add_metric([gate.name], gate.rejected)
        up = GaugeMetricFamily(
            f"{NAMESPACE}_upstream_up",
            "1 while an upstream (a peer or the origin) is used, 0 while backed off.",
            labels=["upstream"],
        )
        for name, state in self._health():
            up.add_metric([name], 1 if state is State.UP else 0)
        yield in_use
        yield limit
        yield rejected
        yield up


class Metrics:
    """Metrics registers the cacheserver's collectors on an explicit registry."""

    def __init__(
        self,
        registry: CollectorRegistry,
        stats: Callable[[], dict[str, Any]],
        in_flight: Callable[[], int],
        *,
        gates: Callable[[], list[GateStats]] = list,
        health: Callable[[], list[tuple[str, State]]] = list,
    ) -> None:
        self.registry = registry
        registry.register(GroupCollector(stats, in_flight))
        registry.register(IsolationCollector(gates, health))
