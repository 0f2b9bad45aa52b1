"""Vegeta-like text and histogram reports (for people; the JSON is for machines)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadclient.durations import format_duration as d
from loadclient.histogram import Histogram

DEFAULT_BUCKETS_NS = tuple(
    int(ms * 1_000_000) for ms in (0, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
)


def _rows(rows: Sequence[tuple[str, str, str]]) -> str:
    w0 = max(len(r[0]) for r in rows) + 2
    w1 = max(len(r[1]) for r in rows) + 2
    return "".join(f"{a:<{w0}}{b:<{w1}}{c}".rstrip() + "\n" for a, b, c in rows)


def _lat(block: Mapping[str, int], keys: Sequence[str]) -> str:
    return ", ".join(d(block[k]) for k in keys)


def text_report(r: Mapping[str, Any]) -> str:
    """Text_report renders a report like `vegeta report`, then the extras."""
    lat, svc, lag = r["latencies"], r["service_time"], r["send_lag"]
    pct = ("min", "mean", "50th", "90th", "95th", "99th", "max")
    codes = "  ".join(f"{k}:{v}" for k, v in r["status_codes"].items())
    ec = r["error_counts"]
    rows = [
        ("Requests", "[total, rate, throughput]",
         f"{r['requests']}, {r['rate']:.2f}, {r['throughput']:.2f}"),
        ("Duration", "[total, attack, wait]",
         f"{d(r['duration'] + r['wait'])}, {d(r['duration'])}, {d(r['wait'])}"),
        ("Latencies", "[min, mean, 50, 90, 95, 99, max]", _lat(lat, pct)),
        ("Bytes In", "[total, mean]", f"{r['bytes_in']['total']}, {r['bytes_in']['mean']:.2f}"),
        ("Bytes Out", "[total, mean]",
         f"{r['bytes_out']['total']}, {r['bytes_out']['mean']:.2f}"),
        ("Success", "[ratio]", f"{r['success'] * 100:.2f}%"),
        ("Status Codes", "[code:count]", codes),
        ("Tail", "[99.9, 99.99]", _lat(lat, ("99.9th", "99.99th"))),
        ("Service Time", "[min, mean, 50, 90, 95, 99, max]", _lat(svc, pct)),
        ("Send Lag", "[mean, 50, 99, max]", _lat(lag, ("mean", "50th", "99th", "max"))),
        ("Rate", "[target, achieved]", f"{r['target_rate']:.2f}, {r['achieved_rate']:.2f}"),
        ("Integrity", "[checked, ok, mismatched]",
         "{checked}, {ok}, {mismatched}".format(**r["integrity"])),
        ("X-Cache", "[hit, peer, miss, none]",
         "{hit}, {peer}, {miss}, {none}".format(**r["cache"])),
        ("Error Kinds", "[" + ", ".join(ec) + "]", ", ".join(str(v) for v in ec.values())),
        ("Dropped", "[due, never sent]", str(r.get("dropped", 0))),
    ]  # fmt: skip
    if r.get("hit_ratio") is not None:
        by = r["bytes_by_cache"]
        rows.append(("Hit Ratio", "[X-Cache hit / (hit, peer, miss)]", f"{r['hit_ratio']:.4f}"))
        rows.append(("Bytes by X-Cache", "[hit, peer, miss]",
                     "{hit}, {peer}, {miss}".format(**by)))  # fmt: skip
    out = _rows(rows) + "Error Set:\n" + "".join(f"{e}\n" for e in r["errors"])
    if r.get("verdict", {}).get("interrupted"):
        out += "INTERRUPTED: the report covers only the requests sent before Ctrl-C\n"
    for key, title in (("behind", "GENERATOR FELL BEHIND"), ("failures", "THRESHOLD FAILED")):
        for msg in r.get("verdict", {}).get(key, []):
            out += f"{title}: {msg}\n"
    return out


def histogram_report(h: Histogram, bounds_ns: Sequence[int] = DEFAULT_BUCKETS_NS) -> str:
    """Histogram_report counts latencies into [bound_i, bound_i+1) buckets like `vegeta hist`."""
    edges = sorted(set(bounds_ns))
    counts = [0] * len(edges)
    for low, high, count in h.buckets():
        mid = (low + high - 1) // 2
        i = max(0, _bisect_right(edges, mid) - 1)
        counts[i] += count
    total = h.total or 1
    rows = [("Bucket", "#", "%", "Histogram")]
    for i, lo in enumerate(edges):
        hi = d(edges[i + 1]) if i + 1 < len(edges) else "+Inf"
        ratio = counts[i] / total
        rows.append(
            (f"[{d(lo)}, {hi}]", str(counts[i]), f"{ratio * 100:.2f}%", "#" * int(ratio * 75))
        )
    widths = [max(len(r[c]) for r in rows) + 2 for c in range(3)]
    return "".join(
        f"{r[0]:<{widths[0]}}{r[1]:<{widths[1]}}{r[2]:<{widths[2]}}{r[3]}".rstrip() + "\n"
        for r in rows
    )


def _bisect_right(edges: Sequence[int], value: int) -> int:
    lo, hi = 0, len(edges)
    while lo < hi:
        mid = (lo + hi) // 2
        if value < edges[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo
