"""When a capacity step may stop early: once its result is already decided, whatever follows.

A step fails its objectives for certain once more requests are over a latency limit (or
failed) than the whole step may have; the generator is the limit once its own send lag or
drops pass the schedule's limit. Either way the rest of the step would change nothing.
Requests count as over a limit by their service time (from the send): latency from the due
time is that plus the send lag, so a generator that stalled (a burst sent late) never makes
the target look slow here; the step's final verdict still judges latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from loadclient.histogram import bucket_index
from loadclient.metrics import Metrics
from loadclient.thresholds import Thresholds

TARGET: Final = "target"  # the target already failed the step's objectives
GENERATOR: Final = "generator"  # the generator cannot keep the step's rate

_QUANTILE_LIMITS: Final = (
    ("max_p50_ns", 0.5), ("max_p90_ns", 0.9), ("max_p95_ns", 0.95), ("max_p99_ns", 0.99),
    ("max_p999_ns", 0.999), ("max_latency_ns", 1.0),
)  # fmt: skip
_MIN_SAMPLE: Final = 50  # send lag percentiles mean little below this many requests


@dataclass(frozen=True, slots=True)
class StopRule:
    """StopRule is a step's limits, as (latency ns, share of requests allowed over it)."""

    planned: int  # requests this process will send in the whole step
    latency_limits: tuple[tuple[int, float], ...] = ()
    max_error_share: float | None = None
    max_send_lag_ns: int = 20_000_000

    @classmethod
    def of(cls, t: Thresholds, planned: int, max_send_lag_ns: int) -> StopRule:
        """Of is the rule for thresholds t over a step of planned requests."""
        limits = tuple(
            (getattr(t, attr), 1.0 - q)
            for attr, q in _QUANTILE_LIMITS
            if getattr(t, attr) is not None
        )
        return cls(planned, limits, t.max_error_rate, max_send_lag_ns)

    def decided(self, m: Metrics) -> str | None:
        """Decided is GENERATOR or TARGET once m already settles the step, else None."""
        if m.dropped or (
            m.send_lag.total >= _MIN_SAMPLE and m.send_lag.percentile(0.99) > self.max_send_lag_ns
        ):
            return GENERATOR
        if self.max_error_share is not None:
            if m.requests - m.successes > math.floor(self.max_error_share * self.planned):
                return TARGET
        for limit_ns, share in self.latency_limits:
            if _count_over(m, limit_ns) > math.floor(share * self.planned):
                return TARGET
        return None


def _count_over(m: Metrics, limit_ns: int) -> int:
    # Whole buckets above the limit's own: a bucket is ~1 % wide, so this errs on staying.
    counts = m.service.counts
    return sum(counts[bucket_index(limit_ns) + 1 :])
