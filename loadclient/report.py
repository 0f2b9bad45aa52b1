"""The report: `vegeta report -type=json` field for field, with extras beside them.

Vegeta's fields keep their names, types, units and number formatting: durations are integer
nanoseconds, timestamps RFC 3339 strings, rate/throughput/success and byte means floats that
Go prints without a fraction when they are whole (`"success": 1`), counts integers.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from loadclient.histogram import RELATIVE_ERROR, Histogram
from loadclient.mergeable import to_state
from loadclient.metrics import Metrics
from loadclient.result import GENERATOR, INTEGRITY

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


def parse_rfc3339_ns(text: str) -> int:
    """Parse_rfc3339_ns reads an RFC 3339 time with a zone (e.g. 2026-12-01T10:00:00Z), Unix ns."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid RFC 3339 time {text!r} (want e.g. 2026-12-01T10:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"RFC 3339 time {text!r} needs a zone (Z or +hh:mm)")
    seconds = int(when.timestamp() // 1)
    return seconds * NS_PER_S + when.microsecond * 1000


def go_float(x: float) -> float | int:
    """Go_float is x as Go's encoding/json writes a float64: a whole value has no fraction."""
    return int(x) if x.is_integer() and abs(x) < 1e21 else x


def go_number(text: str) -> str:
    """Go_number rewrites a Python float literal with an exponent as Go's encoding/json would.

    Go writes 1e-6 <= |x| < 1e21 without an exponent (0.00001, not 1e-05) and the rest
    with a short one (5e-7, not 5e-07).
    """
    x = float(text)
    if 1e-6 <= abs(x) < 1e21:
        return format(Decimal(text), "f")
    mantissa, _, exponent = text.partition("e")
    power = int(exponent)
    return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):0{1 if power < 0 else 2}d}"


# A number with an exponent where indent=2 puts a value: after a key or alone on a line
# (JSON strings hold no raw newline, so nothing inside one can match).
_EXPONENT = re.compile(r"(\": |\n *)(-?\d+(?:\.\d+)?e[+-]\d+)(?=,?\n)")


def dumps(report: dict[str, Any]) -> str:
    """Dumps writes a report as JSON text, numbers as Go writes them, with a final newline."""
    text = json.dumps(report, indent=2) + "\n"
    return _EXPONENT.sub(lambda m: m.group(1) + go_number(m.group(2)), text)


def write_json(report: dict[str, Any], output: Path | None = None) -> None:
    """Write the report's JSON (dumps) to output, or to stdout (flushed) when there is none."""
    text = dumps(report)
    if output is not None:
        output.write_text(text)
        return
    try:
        # O_NONBLOCK belongs to the open pipe, which the workers share: one that left it
        # set cut a report at the pipe's 64 KiB (seen once in CI, a capacity report).
        os.set_blocking(sys.stdout.fileno(), True)
    except (AttributeError, OSError, ValueError):
        pass  # not a real file (a test's captured stdout)
    sys.stdout.write(text)
    sys.stdout.flush()


def latency_block(h: Histogram) -> dict[str, int]:
    """Latency_block is Vegeta's latencies object (ns) plus 99.9th and 99.99th."""
    values = h.percentiles(_QUANTILES.values())
    block = {"total": h.sum, "mean": int(h.mean())}
    block.update(zip(_QUANTILES, values, strict=True))
    block.update(max=h.max, min=h.min)
    return block


@dataclass(slots=True)
class Verdict:
    """Verdict is pass or fail, and why: thresholds failed, generator behind, interrupted."""

    failures: list[str] = field(default_factory=list)
    behind: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        """Passed: nothing failed, the generator kept up, the run was not interrupted."""
        return not self.failures and not self.behind and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        """To_json is the report's `verdict` object."""
        return {"passed": self.passed, "failures": self.failures, "behind": self.behind,
                "interrupted": self.interrupted}  # fmt: skip


@dataclass
class Report:
    """Report is one run (or merged runs): metrics, wall clock, target rate and the verdict."""

    metrics: Metrics
    wall_offset_ns: int  # monotonic times in metrics + this = Unix nanoseconds
    target_rate: float
    verdict: Verdict | None = None
    about: dict[str, Any] = field(default_factory=dict)  # blob, config, workload: as given

    @property
    def requests(self) -> int:
        """Requests is how many requests have a result (dropped ones are not among them)."""
        return self.metrics.requests

    @property
    def duration_ns(self) -> int:
        """Duration_ns is first to last send, as Vegeta's `duration`."""
        m = self.metrics
        return m.latest_ns - m.earliest_ns if m.requests else 0

    @property
    def wait_ns(self) -> int:
        """Wait_ns is last send to last answer, as Vegeta's `wait`."""
        m = self.metrics
        return m.end_ns - m.latest_ns if m.requests else 0

    @property
    def success(self) -> float:
        """Success is the share of requests that got a 200 with a verified body."""
        return self.metrics.successes / self.requests if self.requests else 0.0

    @property
    def rate(self) -> float:
        """Rate is requests per second of the attack, as Vegeta's."""
        n, span = self.requests, self.duration_ns
        return n / (span / NS_PER_S) if n and span > 0 else float(n)

    @property
    def throughput(self) -> float:
        """Throughput is successes per second of attack plus wait, as Vegeta's."""
        total = self.duration_ns + self.wait_ns
        ok = self.metrics.successes
        return ok / (total / NS_PER_S) if self.requests and self.duration_ns > 0 else float(ok)

    @property
    def achieved_rate(self) -> float:
        """Achieved_rate is the send rate between the first and the last send."""
        n, span = self.requests, self.duration_ns
        return (n - 1) / (span / NS_PER_S) if n > 1 and span > 0 else self.rate

    @property
    def latencies(self) -> dict[str, int]:
        """Latencies is Vegeta's latencies object (from due time to answer, ns)."""
        return latency_block(self.metrics.latency)

    @property
    def send_lag(self) -> dict[str, int]:
        """Send_lag is how late requests left, as a latencies object."""
        return latency_block(self.metrics.send_lag)

    @property
    def hit_ratio(self) -> float | None:
        """Hit_ratio is X-Cache hits among 200 answers that carried X-Cache (None: none did)."""
        c = self.metrics.cache
        seen = c["hit"] + c["peer"] + c["miss"]
        return c["hit"] / seen if seen else None

    def to_json(self) -> dict[str, Any]:
        """To_json is the JSON report: Vegeta's fields first, extras beside them."""
        m, n = self.metrics, self.requests

        def wall(ns: int) -> str:
            return rfc3339(ns + self.wall_offset_ns if ns else 0)

        mismatched = m.error_counts.get(INTEGRITY, 0)
        report: dict[str, Any] = {
            "latencies": self.latencies,
            "bytes_in": {"total": m.bytes_in, "mean": go_float(m.bytes_in / n if n else 0.0)},
            "bytes_out": {"total": m.bytes_out, "mean": go_float(m.bytes_out / n if n else 0.0)},
            "earliest": wall(m.earliest_ns),
            "latest": wall(m.latest_ns),
            "end": wall(m.end_ns),
            "duration": self.duration_ns,
            "wait": self.wait_ns,
            "requests": n,
            "rate": go_float(self.rate),
            "throughput": go_float(self.throughput),
            "success": go_float(self.success),
            "status_codes": {str(k): v for k, v in sorted(m.status_codes.items())},
            "errors": list(m.errors),
            # Extras, beside Vegeta's fields.
            "dropped": m.dropped,
            "service_time": latency_block(m.service),
            "send_lag": self.send_lag,
            "target_rate": float(self.target_rate),
            "achieved_rate": float(self.achieved_rate),
            "error_counts": dict(m.error_counts),
            "integrity": {
                "checked": m.bodies_checked,
                "ok": m.bodies_checked - mismatched,
                "mismatched": mismatched,
            },  # fmt: skip
            "cache": dict(m.cache),
            "hit_ratio": self.hit_ratio,
            "bytes_by_cache": dict(m.cache_bytes),
            "generator": {
                "pool_limit": m.pool_limit,
                "pool_waits": m.pool_waits,
                "fd_limited": m.fd_limited,
                "errors": m.error_counts.get(GENERATOR, 0),
            },  # fmt: skip
            "histogram_relative_error": RELATIVE_ERROR,
            "client_cpu": {
                "seconds": round(m.cpu_s, 3),
                "per_request_us": round(m.cpu_s / n * 1e6, 2) if n else 0.0,
            },
        }
        if m.key_counts:
            report["key_requests"] = [m.key_counts.get(i, 0) for i in range(max(m.key_counts) + 1)]
        if self.verdict is not None:
            report["verdict"] = self.verdict.to_json()
        report.update(self.about)
        report["mergeable"] = to_state(m, self.wall_offset_ns, self.target_rate)
        return report
