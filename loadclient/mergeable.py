"""The mergeable form of Metrics kept in every JSON report, so reports merge exactly.

Counts add; histograms add bucket by bucket (so merged percentiles are as exact as one
run's); times are Unix nanoseconds, so reports from different hosts line up by wall clock.
The per-interval series (the HTML charts) is not kept: it is a view, not a measurement.
"""

from __future__ import annotations

from typing import Any, Final

from loadclient.histogram import Histogram
from loadclient.metrics import Metrics, add_counts
from loadclient.series import interval_for

VERSION: Final = 1

_COUNTS: Final = ("requests", "successes", "bytes_in", "bytes_out", "bodies_checked", "dropped",
                  "pool_waits")  # fmt: skip
_HISTOGRAMS: Final = ("latency", "service", "send_lag")


class NotMergeable(ValueError):
    """NotMergeable is a report without a usable `mergeable` object."""


def to_state(m: Metrics, wall_offset_ns: int, target_rate: float) -> dict[str, Any]:
    """To_state is m in mergeable JSON form; monotonic times + wall_offset_ns are Unix ns."""

    def wall(ns: int) -> int:
        return ns + wall_offset_ns if ns else 0

    state: dict[str, Any] = {"version": VERSION, "target_rate": target_rate}
    state.update({name: getattr(m, name) for name in _COUNTS})
    state.update({name: getattr(m, name).to_dict() for name in _HISTOGRAMS})
    state.update(
        earliest_ns=wall(m.earliest_ns), latest_ns=wall(m.latest_ns), end_ns=wall(m.end_ns),
        status_codes={str(k): v for k, v in m.status_codes.items()}, errors=list(m.errors),
        error_counts=dict(m.error_counts), cache=dict(m.cache), cache_bytes=dict(m.cache_bytes),
        key_counts={str(k): v for k, v in m.key_counts.items()}, cpu_s=m.cpu_s,
        interrupted=m.interrupted, pool_limit=m.pool_limit, fd_limited=m.fd_limited,
    )  # fmt: skip
    return state


def from_state(state: Any) -> tuple[Metrics, float]:
    """From_state rebuilds Metrics (times in Unix ns) and the target rate from to_state's form."""
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise NotMergeable("no `mergeable` object of a known version (written by loadclient run)")
    try:
        span = int(state["latest_ns"]) - int(state["earliest_ns"])
        m = Metrics(interval_for(max(1, span)))
        for name in _COUNTS:
            setattr(m, name, int(state[name]))
        for name in _HISTOGRAMS:
            setattr(m, name, Histogram.from_dict(state[name]))
        m.earliest_ns, m.latest_ns = int(state["earliest_ns"]), int(state["latest_ns"])
        m.end_ns = int(state["end_ns"])
        add_counts(m.status_codes, {int(k): int(v) for k, v in state["status_codes"].items()})
        m.errors = [str(e) for e in state["errors"]]
        add_counts(m.error_counts, {str(k): int(v) for k, v in state["error_counts"].items()})
        add_counts(m.cache, {str(k): int(v) for k, v in state["cache"].items()})
        add_counts(m.cache_bytes, {str(k): int(v) for k, v in state["cache_bytes"].items()})
        add_counts(m.key_counts, {int(k): int(v) for k, v in state["key_counts"].items()})
        m.cpu_s, m.interrupted = float(state["cpu_s"]), bool(state["interrupted"])
        m.pool_limit, m.fd_limited = int(state["pool_limit"]), bool(state["fd_limited"])
        return m, float(state["target_rate"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotMergeable(f"malformed `mergeable` object: {exc!r}") from None
