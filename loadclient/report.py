"""The JSON report: `vegeta report -type=json` field for field, with extras beside them.

Vegeta's fields keep their names, types and units: durations are integer nanoseconds,
timestamps RFC 3339 strings, rate/throughput/success and byte means floats, counts integers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from loadclient.histogram import RELATIVE_ERROR, Histogram
from loadclient.metrics import Metrics

NS_PER_S: Final = 1_000_000_000

VEGETA_FIELDS: Final = (
    "latencies", "bytes_in", "bytes_out", "earliest", "latest", "end", "duration", "wait",
    "requests", "rate", "throughput", "success", "status_codes", "errors",
)  # fmt: skip
VEGETA_LATENCY_FIELDS: Final = ("total", "mean", "50th", "90th", "95th", "99th", "max", "min")

_QUANTILES: Final = {
    "50th": 0.50, "90th": 0.90, "95th": 0.95, "99th": 0.99, "99.9th": 0.999, "99.99th": 0.9999,
}  # fmt: skip


def rfc3339(wall_ns: int) -> str:
    """Rfc3339 formats Unix nanoseconds like Go's time.Time JSON (RFC 3339, nanoseconds)."""
    if wall_ns <= 0:
        return "0001-01-01T00:00:00Z"
    seconds, nanos = divmod(wall_ns, NS_PER_S)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def latency_block(h: Histogram) -> dict[str, int]:
    """Latency_block is Vegeta's latencies object (ns) plus 99.9th and 99.99th."""
    values = h.percentiles(_QUANTILES.values())
    block = {"total": h.sum, "mean": int(h.mean())}
    block.update(zip(_QUANTILES, values, strict=True))
    block.update(max=h.max, min=h.min)
    return block


def build(
    m: Metrics,
    *,
    wall_offset_ns: int,
    target_rate: float,
    extras: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build makes the report from merged metrics; monotonic times + wall_offset_ns = Unix ns."""
    n = m.requests
    duration = m.latest_ns - m.earliest_ns if n else 0
    wait = m.end_ns - m.latest_ns if n else 0
    rate = throughput = 0.0
    if n:
        rate = float(n)
        throughput = float(m.successes)
        if duration > 0:
            rate /= duration / NS_PER_S
            throughput /= (duration + wait) / NS_PER_S
    achieved = (n - 1) / (duration / NS_PER_S) if n > 1 and duration > 0 else rate

    def wall(ns: int) -> str:
        return rfc3339(ns + wall_offset_ns if ns else 0)

    report: dict[str, Any] = {
        "latencies": latency_block(m.latency),
        "bytes_in": {"total": m.bytes_in, "mean": m.bytes_in / n if n else 0.0},
        "bytes_out": {"total": m.bytes_out, "mean": m.bytes_out / n if n else 0.0},
        "earliest": wall(m.earliest_ns),
        "latest": wall(m.latest_ns),
        "end": wall(m.end_ns),
        "duration": duration,
        "wait": wait,
        "requests": n,
        "rate": rate,
        "throughput": throughput,
        "success": m.successes / n if n else 0.0,
        "status_codes": {str(k): v for k, v in sorted(m.status_codes.items())},
        "errors": list(m.errors),
        # Extras, beside Vegeta's fields.
        "service_time": latency_block(m.service),
        "send_lag": latency_block(m.send_lag),
        "target_rate": float(target_rate),
        "achieved_rate": float(achieved),
        "error_counts": dict(m.error_counts),
        "integrity": {
            "checked": m.bodies_checked,
            "ok": m.bodies_checked - m.error_counts.get("integrity", 0),
            "mismatched": m.error_counts.get("integrity", 0),
        },
        "cache": dict(m.cache),
        "histogram_relative_error": RELATIVE_ERROR,
        "client_cpu": {
            "seconds": round(m.cpu_s, 3),
            "per_request_us": round(m.cpu_s / n * 1e6, 2) if n else 0.0,
        },
    }
    report.update(extras or {})
    return report
