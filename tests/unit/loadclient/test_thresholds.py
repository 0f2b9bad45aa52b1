"""Threshold evaluation and the generator's schedule check, on small fake reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from loadclient.metrics import Metrics
from loadclient.thresholds import Schedule, Thresholds, behind, evaluate

MS = 1_000_000


def _metrics(successes: int = 995) -> Metrics:
    m = Metrics(MS)
    m.successes = successes
    return m


@dataclass
class FakeReport:
    """FakeReport has the fields thresholds judge, with a plausible passing run's values."""

    requests: int = 1000
    success: float = 0.995
    throughput: float = 99.5
    latencies: dict[str, int] = field(
        default_factory=lambda: {"mean": 3 * MS, "50th": 2 * MS, "90th": 5 * MS, "95th": 8 * MS,
                                 "99th": 20 * MS, "99.9th": 40 * MS, "max": 90 * MS}
    )  # fmt: skip
    target_rate: float = 100.0
    achieved_rate: float = 100.0
    send_lag: dict[str, int] = field(default_factory=lambda: {"99th": 1 * MS})
    duration_ns: int = 10_000 * MS
    metrics: Metrics = field(default_factory=_metrics)


def report(**over: Any) -> FakeReport:
    if "duration" in over:
        over["duration_ns"] = over.pop("duration")
    return FakeReport(**over)


@pytest.mark.parametrize(
    ("limits", "failed"),
    [
        (Thresholds(), []),
        (Thresholds(max_error_rate=0.01), []),
        (Thresholds(max_error_rate=0.005), []),  # equal passes
        (Thresholds(max_error_rate=0.001), ["error rate"]),
        (Thresholds(max_p99_ns=20 * MS), []),
        (Thresholds(max_p99_ns=19 * MS), ["latency 99th"]),
        (Thresholds(max_p50_ns=MS, max_p999_ns=30 * MS), ["latency 50th", "latency 99.9th"]),
        (Thresholds(max_mean_ns=2 * MS, max_latency_ns=50 * MS), ["latency mean", "latency max"]),
        (Thresholds(max_p90_ns=5 * MS, max_p95_ns=7 * MS), ["latency 95th"]),
        (Thresholds(min_throughput=100.0), ["throughput"]),
    ],
)
def test_evaluate(limits: Thresholds, failed: list[str]) -> None:
    got = evaluate(report(), limits)
    assert len(got) == len(failed), got
    for msg, prefix in zip(got, failed, strict=True):
        assert msg.startswith(prefix + " "), (msg, prefix)


def test_no_requests_is_a_total_error_rate() -> None:
    assert evaluate(report(requests=0, success=0.0), Thresholds(max_error_rate=0.5))


@pytest.mark.parametrize("requests", [0, 1000])
def test_a_run_where_nothing_succeeded_never_passes(requests: int) -> None:
    # Thresholds or not: an unreachable cache must not make a green run.
    got = evaluate(report(requests=requests, success=0.0, metrics=_metrics(0)), Thresholds())
    assert got == ["no request succeeded" if requests else "no request was made"]


def test_the_generator_s_own_limits_are_behind_reasons() -> None:
    m = _metrics()
    m.dropped, m.error_counts["generator"] = 7, 3
    m.fd_limited, m.pool_waits, m.pool_limit = True, 40, 192
    reasons = behind(report(metrics=m), Schedule())
    assert len(reasons) == 3
    assert "7 requests due within --duration were never sent (dropped)" in reasons[0]
    assert "3 requests failed inside the generator" in reasons[1]
    assert "capped at 192 by the descriptor limit" in reasons[2]


@pytest.mark.parametrize(
    ("over", "reasons"),
    [
        ({}, 0),
        ({"achieved_rate": 99.0}, 0),  # exactly 99 %
        ({"achieved_rate": 98.9}, 1),
        ({"send_lag": {"99th": 20 * MS}}, 0),
        ({"send_lag": {"99th": 21 * MS}}, 1),
        ({"achieved_rate": 50.0, "send_lag": {"99th": 500 * MS}}, 2),
        ({"target_rate": 0.0, "achieved_rate": 5000.0}, 0),  # rate 0: closed model, no schedule
        ({"duration": 1000 * MS, "achieved_rate": 98.1}, 0),  # 1 s: 20 ms lag explains 1.9 %
        ({"duration": 1000 * MS, "achieved_rate": 97.9}, 1),
        ({"requests": 1, "achieved_rate": 0.0}, 0),
    ],
)
def test_behind(over: dict[str, Any], reasons: int) -> None:
    assert len(behind(report(**over), Schedule())) == reasons
