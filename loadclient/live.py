"""Live metrics (`--metrics-addr`): what the attack has done so far, as Prometheus text.

Each attacking process sums its own Metrics into a Snapshot (the lone process when scraped,
a worker every half second over its pipe); the Board in the parent adds the snapshots of
every worker and of every finished run (capacity's steps), so counters only grow, and one
endpoint serves them all. Labels are bounded: status code, error kind, X-Cache result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from cascommon.kinds import split_host_port
from cascommon.metricsport import MetricsPort
from loadclient.histogram import bucket_bounds
from loadclient.metrics import Metrics, add_counts
from loadclient.pacer import ConstantPacer
from loadclient.plan import Plan
from loadclient.stages import StagedPacer

# Latency histogram buckets (seconds, from each request's due time); our log-linear
# histogram's buckets are 1/2048 wide, so each count here is exact to that.
BUCKETS_S: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)  # fmt: skip


@dataclass(slots=True)
class Snapshot:
    """Snapshot is one process's totals so far (picklable: workers send it to the parent)."""

    requests: int = 0
    successes: int = 0
    dropped: int = 0
    in_flight: int = 0
    offered: float = 0.0  # requests due so far by the schedule (this process's part)
    latency_counts: dict[int, int] = field(default_factory=dict)  # our histogram's buckets
    latency_sum_ns: int = 0
    status_codes: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, m: Metrics, in_flight: int = 0, offered: float = 0.0) -> Snapshot:
        """Of copies m's totals (each copy is one C call: safe from another thread)."""
        counts = list(m.latency.counts)
        return cls(
            m.requests, m.successes, m.dropped, in_flight, offered,
            {i: c for i, c in enumerate(counts) if c}, m.latency.sum, dict(m.status_codes),
            dict(m.error_counts), dict(m.cache),
        )  # fmt: skip

    def add(self, other: Snapshot) -> None:
        """Add sums other into this snapshot."""
        self.requests += other.requests
        self.successes += other.successes
        self.dropped += other.dropped
        self.in_flight += other.in_flight
        self.offered += other.offered
        self.latency_sum_ns += other.latency_sum_ns
        for mine, theirs in (
            (self.latency_counts, other.latency_counts), (self.status_codes, other.status_codes),
        ):  # fmt: skip
            add_counts(mine, theirs)
        add_counts(self.errors, other.errors)
        add_counts(self.cache, other.cache)


Source = Callable[[], Snapshot]


class Board:
    """Board holds the finished runs' totals and the sources of the running one's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = Snapshot()
        self._live: dict[int, Snapshot | Source] = {}  # by worker
        self._pacer: ConstantPacer | StagedPacer | None = None  # the running schedule's
        self._start_ns = 0
        self._shards = 1
        self.step_rate = 0  # capacity: the current step's rate (0: none)

    def begin(self, plan: Plan, start_ns: int) -> None:
        """Begin notes a run's schedule and its start (monotonic ns)."""
        pacer = (
            StagedPacer(plan.stages) if plan.stages else ConstantPacer(plan.rate, plan.duration_ns)
        )
        with self._lock:
            self._pacer, self._start_ns, self._shards = pacer, start_ns, plan.shards

    def schedule_now(self) -> tuple[float, float, int]:
        """Schedule_now is (offered so far, offered rate now, stage now) of the running run."""
        with self._lock:
            pacer, start_ns, shards = self._pacer, self._start_ns, self._shards
        if pacer is None:
            return 0.0, 0.0, -1
        elapsed = time.monotonic_ns() - start_ns
        if isinstance(pacer, StagedPacer):
            spans = pacer.stage_spans()
            stage = next((i for i, (a, b) in enumerate(spans) if a <= elapsed < b), -1)
            return pacer.hits_by(elapsed) / shards, pacer.rate_at(elapsed) / shards, stage
        running = 0 <= elapsed < pacer.duration_ns
        rate = pacer.rate.per_second / shards if running else 0.0
        return pacer.hits_by(elapsed) / shards, rate, -1

    def set_live(self, worker: int, value: Snapshot | Source) -> None:
        """Set_live publishes a running process's snapshot (or a way to take one)."""
        with self._lock:
            self._live[worker] = value

    def finish(self, m: Metrics) -> None:
        """Finish adds a finished run's merged metrics and forgets its live sources."""
        with self._lock:
            self._done.add(Snapshot.of(m))
            self._live.clear()
            self._pacer = None
            self._done.offered += m.requests + m.dropped  # what was due, as accounted

    def total(self) -> Snapshot:
        """Total is every finished run's totals plus the running one's so far."""
        with self._lock:
            out = Snapshot()
            out.add(self._done)
            live = list(self._live.values())
        for value in live:
            out.add(value if isinstance(value, Snapshot) else value())
        out.offered += self.schedule_now()[0]  # 0 between runs
        return out


class BoardCollector(Collector):
    """BoardCollector turns a Board into the loadclient_* families at each scrape."""

    def __init__(self, board: Board) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        """Collect yields the families from the board's totals now."""
        b, s = self.board, self.board.total()
        _, offered_rate, stage = b.schedule_now()
        yield CounterMetricFamily("loadclient_requests", "Requests sent (with a result).",
                                  value=s.requests)  # fmt: skip
        yield CounterMetricFamily("loadclient_successes", "200s whose body matched its digest.",
                                  value=s.successes)  # fmt: skip
        yield CounterMetricFamily("loadclient_dropped", "Requests due but never sent.",
                                  value=s.dropped)  # fmt: skip
        yield CounterMetricFamily("loadclient_offered_requests",
                                  "Requests the schedule made due.", value=s.offered)  # fmt: skip
        yield GaugeMetricFamily("loadclient_in_flight", "Requests sent and not yet answered.",
                                value=s.in_flight)  # fmt: skip
        yield GaugeMetricFamily("loadclient_offered_rate", "The schedule's rate now, per second.",
                                value=offered_rate)  # fmt: skip
        yield GaugeMetricFamily("loadclient_stage", "The --stages stage now (0-based; -1: none).",
                                value=stage)  # fmt: skip
        yield GaugeMetricFamily("loadclient_capacity_step_rate",
                                "The capacity step's rate now, per second (0: none).",
                                value=b.step_rate)  # fmt: skip
        codes = CounterMetricFamily("loadclient_responses", "Answers by status code (0: none).",
                                    labels=["code"])  # fmt: skip
        for code, n in sorted(s.status_codes.items()):
            codes.add_metric([str(code)], n)
        yield codes
        errors = CounterMetricFamily("loadclient_errors", "Failed requests by kind.",
                                     labels=["kind"])  # fmt: skip
        for kind, n in sorted(s.errors.items()):
            errors.add_metric([kind], n)
        yield errors
        cache = CounterMetricFamily("loadclient_cache_results", "200 answers by X-Cache.",
                                    labels=["result"])  # fmt: skip
        for result, n in sorted(s.cache.items()):
            cache.add_metric([result], n)
        yield cache
        yield _latency(s)


def _latency(s: Snapshot) -> HistogramMetricFamily:
    cumulative, seen, pending = [], 0, sorted(s.latency_counts.items())
    i = 0
    for bound in BUCKETS_S:
        limit_ns = bound * 1e9
        while i < len(pending) and bucket_bounds(pending[i][0])[1] <= limit_ns + 1:
            seen += pending[i][1]
            i += 1
        cumulative.append((repr(bound), seen))
    cumulative.append(("+Inf", sum(s.latency_counts.values())))
    return HistogramMetricFamily(
        "loadclient_request_duration_seconds",
        "Latency from each request's due time to its whole answer.",
        buckets=cumulative, sum_value=s.latency_sum_ns / 1e9,
    )  # fmt: skip


class Live:
    """Live is --metrics-addr's board and listener; close() lingers, then stops serving."""

    def __init__(self, addr: str | None, linger_ns: int) -> None:
        self.board: Board | None = None
        self._port: MetricsPort | None = None
        if addr:
            self.board, self._port = serve(addr)
        self.linger_s = linger_ns / 1e9

    def close(self) -> None:
        """Close keeps serving for the linger (so the last scrape sees the end), then stops."""
        if self._port is None:
            return
        try:
            time.sleep(self.linger_s)
        except KeyboardInterrupt:
            pass  # Ctrl-C while lingering: the run is over, just stop serving
        finally:
            self._port.close()
            self._port = None


def serve(addr: str) -> tuple[Board, MetricsPort]:
    """Serve listens on HOST:PORT ([v6]:PORT) for scrapes of a new board (OSError: cannot)."""
    try:
        host, port = split_host_port(addr)
    except ValueError:
        raise ValueError(f"--metrics-addr must be HOST:PORT, got {addr!r}") from None
    board = Board()
    listener = MetricsPort(registry_for(board), host or "0.0.0.0", port)
    return board, listener.start()


def registry_for(board: Board) -> CollectorRegistry:
    """Registry_for is a registry holding only the board's families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoardCollector(board))
    return registry
