"""Threshold evaluation and the generator's schedule check, on plain report dicts."""

from __future__ import annotations

from typing import Any

import pytest

from loadclient.thresholds import Schedule, Thresholds, behind, evaluate

MS = 1_000_000


def report(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "requests": 1000, "success": 0.995, "throughput": 99.5,
        "latencies": {"mean": 3 * MS, "50th": 2 * MS, "90th": 5 * MS, "95th": 8 * MS,
                      "99th": 20 * MS, "99.9th": 40 * MS, "max": 90 * MS},
        "target_rate": 100.0, "achieved_rate": 100.0, "send_lag": {"99th": 1 * MS},
        "duration": 10_000 * MS,
    }  # fmt: skip
    r.update(over)
    return r


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
