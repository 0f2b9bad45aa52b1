"""Pass/fail: thresholds for CI and the check that the generator kept to its schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loadclient.durations import format_duration
from loadclient.metrics import Metrics
from loadclient.result import GENERATOR


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Thresholds are optional limits on a report; None means unchecked."""

    max_error_rate: float | None = None
    max_mean_ns: int | None = None
    max_p50_ns: int | None = None
    max_p90_ns: int | None = None
    max_p95_ns: int | None = None
    max_p99_ns: int | None = None
    max_p999_ns: int | None = None
    max_latency_ns: int | None = None
    min_throughput: float | None = None


class Judged(Protocol):
    """Judged is what thresholds look at in a report (loadclient.report.Report has it all)."""

    @property
    def metrics(self) -> Metrics: ...
    @property
    def requests(self) -> int: ...
    @property
    def success(self) -> float: ...
    @property
    def throughput(self) -> float: ...
    @property
    def latencies(self) -> dict[str, int]: ...
    @property
    def send_lag(self) -> dict[str, int]: ...
    @property
    def target_rate(self) -> float: ...
    @property
    def achieved_rate(self) -> float: ...
    @property
    def duration_ns(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Schedule:
    """Schedule is how far the generator may drift before its results are called untrustworthy."""

    max_send_lag_p99_ns: int = 20_000_000
    min_rate_ratio: float = 0.99


_LATENCY_LIMITS = (
    ("max_mean_ns", "mean"),
    ("max_p50_ns", "50th"),
    ("max_p90_ns", "90th"),
    ("max_p95_ns", "95th"),
    ("max_p99_ns", "99th"),
    ("max_p999_ns", "99.9th"),
    ("max_latency_ns", "max"),
)


def evaluate(report: Judged, t: Thresholds) -> list[str]:
    """Evaluate returns one message per threshold the report fails (empty: all pass).

    A run in which no request succeeded fails whatever the thresholds.
    """
    failures: list[str] = []
    if report.metrics.successes == 0:
        failures.append("no request succeeded" if report.requests else "no request was made")
    if t.max_error_rate is not None:
        error_rate = 1.0 - report.success if report.requests else 1.0
        if error_rate > t.max_error_rate + 1e-12:  # 1 - 0.995 is 0.0050000000000000044
            failures.append(f"error rate {error_rate:.4%} > max {t.max_error_rate:.4%}")
    latencies = report.latencies
    for attr, key in _LATENCY_LIMITS:
        limit = getattr(t, attr)
        value = latencies[key]
        if limit is not None and value > limit:
            failures.append(
                f"latency {key} {format_duration(value)} > max {format_duration(limit)}"
            )
    if t.min_throughput is not None and report.throughput < t.min_throughput:
        failures.append(f"throughput {report.throughput:.2f}/s < min {t.min_throughput:.2f}/s")
    return failures


def behind(report: Judged, s: Schedule) -> list[str]:
    """Behind returns why the generator failed to send on schedule (empty: it kept up)."""
    m = report.metrics
    reasons = _own_limits(m.dropped, m.error_counts.get(GENERATOR, 0), m)
    target = report.target_rate
    if target <= 0 or report.requests < 2:
        return reasons
    achieved = report.achieved_rate
    # One request sent late by the allowed lag at either end of a short run shifts the rate by
    # lag/span: a shortfall that small is jitter the lag limit already allows, not a backlog.
    span = report.duration_ns
    ratio = min(s.min_rate_ratio, span / (span + s.max_send_lag_p99_ns)) if span > 0 else 0.0
    if achieved < target * ratio:
        reasons.append(f"achieved rate {achieved:.2f}/s < {ratio:.1%} of target {target:.2f}/s")
    lag = report.send_lag["99th"]
    if lag > s.max_send_lag_p99_ns:
        reasons.append(
            f"send lag p99 {format_duration(lag)} > {format_duration(s.max_send_lag_p99_ns)}"
            " (requests left late: the generator or its connection pool could not keep up)"
        )
    return reasons


def _own_limits(dropped: int, generator_errors: int, m: Metrics) -> list[str]:
    reasons: list[str] = []
    if dropped:
        reasons.append(
            f"{dropped} requests due within --duration were never sent (dropped): the "
            "generator or its connection pool could not keep up"
        )
    if generator_errors:
        reasons.append(
            f"{generator_errors} requests failed inside the generator (out of descriptors, "
            "ports or buffers), not at the server"
        )
    if m.fd_limited and m.pool_waits:
        reasons.append(
            f"the connection pool was capped at {m.pool_limit} by the descriptor limit "
            f"(ulimit -n) and {m.pool_waits} requests waited for a connection"
        )
    return reasons
