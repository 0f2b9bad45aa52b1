"""A self-contained HTML report: inline SVG charts, no scripts or fonts fetched from anywhere."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loadclient.durations import format_duration
from loadclient.histogram import Histogram

W, H, PAD = 760, 260, 48
COLORS = ("#2f6fdf", "#e4572e", "#29a36a", "#9b59b6", "#f1a208", "#555555", "#17becf")
LATENCY_KEYS = ("mean", "50th", "90th", "99th", "99.9th", "max")
SPECTRUM = (0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999)

Line = tuple[str, str, Sequence[tuple[float, float]]]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _chart(title: str, lines: Sequence[Line], x_label: str, y_label: str,
           x_names: Mapping[float, str] | None = None) -> str:  # fmt: skip
    pts = [p for _, _, ps in lines for p in ps]
    if not pts:
        return f"<h2>{html.escape(title)}</h2><p>no data</p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y1 = max(p[1] for p in pts) * 1.05 or 1.0
    x1 = x1 if x1 > x0 else x0 + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (W - 2 * PAD)

    def sy(y: float) -> float:
        return H - PAD + -y / y1 * (H - 2 * PAD)

    out = [f'<h2>{html.escape(title)}</h2><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">']
    for y in _ticks(0, y1):
        out.append(f'<line x1="{PAD}" x2="{W - PAD}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                   f'stroke="#ddd"/><text x="{PAD - 4}" y="{sy(y) + 4:.1f}" '
                   f'text-anchor="end">{y:g}</text>')  # fmt: skip
    xs = x_names or {x: f"{x:g}" for x in _ticks(x0, x1, 8)}
    for x, name in xs.items():
        out.append(f'<text x="{sx(x):.1f}" y="{H - PAD + 16}" text-anchor="middle">'
                   f"{html.escape(name)}</text>")  # fmt: skip
    for i, (name, color, ps) in enumerate(lines):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ps)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{path}">'
                   f"<title>{html.escape(name)}</title></polyline>")  # fmt: skip
        for x, y in ps:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" fill="{color}">'
                       f"<title>{html.escape(name)}: {x:g}, {y:g}</title></circle>")  # fmt: skip
        out.append(f'<text x="{W - PAD + 4}" y="{PAD + 14 * i}" fill="{color}">'
                   f"{html.escape(name)}</text>")  # fmt: skip
    out.append(f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{html.escape(x_label)}</text>'
               f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" '
               f'text-anchor="middle">{html.escape(y_label)}</text></svg>')  # fmt: skip
    return "\n".join(out)


def html_report(
    report: Mapping[str, Any], latency: Histogram, rows: Sequence[Mapping[str, Any]]
) -> str:
    """Html_report renders the summary, latency over time, the percentile spectrum and codes."""
    ms = 1e6
    over_time: list[Line] = [
        (f"{k} (ms)", COLORS[i], [(r["t_s"], r[f"{k}_ns"] / ms) for r in rows])
        for i, k in enumerate(("p50", "p99", "max"))
    ]
    # Quantiles the sample can resolve (1/(1-q) <= requests), then the maximum at the far right.
    top = math.log10(max(10, latency.total))
    qs = [q for q in SPECTRUM if math.log10(1 / (1 - q)) < top]
    spectrum_x = [math.log10(1 / (1 - q)) for q in qs] + [top]
    values = [*latency.percentiles(qs), latency.max]
    spectrum: list[Line] = [
        ("latency (ms)", COLORS[0], [(x, v / ms) for x, v in zip(spectrum_x, values, strict=True)])
    ]
    names = {
        x: f"{q * 100:g}%"
        for x, q in zip(spectrum_x, qs, strict=False)
        if q in (0.5, 0.9, 0.99, 0.999, 0.9999)
    }
    names[top] = "max"
    codes = sorted({c for r in rows for c in r["status_codes"]})
    per_code: list[Line] = [
        (
            f"status {c}",
            COLORS[i % len(COLORS)],
            [(r["t_s"], r["status_codes"].get(c, 0)) for r in rows],
        )
        for i, c in enumerate(codes)
    ]
    lat = report["latencies"]
    summary = {
        "requests": report["requests"], "rate (achieved / target)":
        f"{report['achieved_rate']:.2f} / {report['target_rate']:.2f} per s",
        "success": f"{report['success'] * 100:.2f}%",
        **{f"latency {k}": format_duration(lat[k]) for k in LATENCY_KEYS},
        "send lag p99": format_duration(report["send_lag"]["99th"]),
        "status codes": ", ".join(f"{k}: {v}" for k, v in report["status_codes"].items()),
        "errors by kind": _counts(report["error_counts"]),
        "X-Cache": _counts(report["cache"]),
    }  # fmt: skip
    verdict = report.get("verdict", {})
    notes = [*verdict.get("behind", []), *verdict.get("failures", [])]
    table = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    errors = "".join(f"<li>{html.escape(e)}</li>" for e in report["errors"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>loadclient report</title>
<style>body{{font:14px sans-serif;margin:24px;max-width:900px}}
th{{text-align:left;padding-right:16px}}
svg text{{font:11px sans-serif}} .bad{{color:#c0392b;font-weight:bold}}</style></head><body>
<h1>loadclient report</h1>
<p>{html.escape(report["earliest"])} &ndash; {html.escape(report["end"])}</p>
{"".join(f'<p class="bad">{html.escape(n)}</p>' for n in notes)}
<table>{table}</table>
{_chart("Latency over time (from each request's due time)", over_time, "seconds since start", "ms")}
{_chart("Latency percentile spectrum", spectrum, "percentile", "ms", names)}
{_chart("Status codes over time", per_code, "seconds since start", "responses per interval")}
<h2>Errors</h2><ul>{errors or "<li>none</li>"}</ul>
</body></html>
"""


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "none"
