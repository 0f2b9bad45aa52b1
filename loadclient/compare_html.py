"""`loadclient compare --html`: both runs' curves on the same charts (no script, no fetch)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from loadclient.durations import format_duration
from loadclient.histogram import Histogram
from loadclient.html import SPECTRUM, SPECTRUM_NAMES, Line, _chart

_COLORS = ("#2f6fdf", "#d62728")


def compare_html(a: Mapping[str, Any], b: Mapping[str, Any], name_a: str, name_b: str) -> str:
    """Compare_html is one page: the latency spectra overlaid, capacity curves if both have them."""
    runs = ((a, f"A: {name_a}", _COLORS[0]), (b, f"B: {name_b}", _COLORS[1]))
    spectrum: list[Line] = []
    names: dict[float, str] = {}
    for report, label, color in runs:
        line, xs = _spectrum(report, label, color)
        if line is not None:
            spectrum.append(line)
            names.update(xs)
    charts = [_chart("Latency percentile spectrum", spectrum, "percentile (log scale)", "ms",
                     names)]  # fmt: skip
    if all(isinstance(r.get("capacity"), Mapping) for r, _, _ in runs):
        p99 = [Line(f"p99, {label}", color, [(st["rate"], st["p99"] / 1e6,
               f"p99 {format_duration(st['p99'])} at {st['rate']}/s")
               for st in sorted(r["capacity"]["steps"], key=lambda s: s["rate"])])
               for r, label, color in runs]  # fmt: skip
        charts.append(_chart("p99 latency against offered rate", p99, "offered rate (per s)",
                             "ms"))  # fmt: skip
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_cell(a, k))}</td>"
        f"<td>{html.escape(_cell(b, k))}</td></tr>"
        for k in ("requests", "rate", "achieved_rate", "success", "dropped")
    )
    lat = "".join(
        f"<tr><th>latency {k}</th><td>{format_duration(a['latencies'][k])}</td>"
        f"<td>{format_duration(b['latencies'][k])}</td></tr>"
        for k in ("50th", "90th", "99th", "max")
        if k in a.get("latencies", {}) and k in b.get("latencies", {})
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>loadclient compare</title>
<style>body{{font:14px sans-serif;margin:24px;max-width:760px}} td,th{{padding:0 8px}}
th{{text-align:left}} svg{{max-width:100%;height:auto}} svg text{{font:11px sans-serif}}
</style></head><body>
<h1>loadclient compare</h1>
<table><tr><th></th><th>{html.escape(runs[0][1])}</th><th>{html.escape(runs[1][1])}</th></tr>
{rows}{lat}</table>
{"".join(charts)}
</body></html>
"""  # fmt: skip


def _cell(report: Mapping[str, Any], key: str) -> str:
    value = report.get(key)
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _spectrum(
    report: Mapping[str, Any], label: str, color: str
) -> tuple[Line | None, dict[float, str]]:
    state = report.get("mergeable")
    if not isinstance(state, Mapping) or not isinstance(state.get("latency"), dict):
        return None, {}
    h = Histogram.from_dict(state["latency"])
    if not h.total:
        return None, {}
    top = math.log10(max(10, h.total))
    qs = [q for q in SPECTRUM if math.log10(1 / (1 - q)) < top - 0.1]
    xs = [math.log10(1 / (1 - q)) for q in qs] + [top]
    values = [*h.percentiles(qs), h.max]
    points = [(x, v / 1e6, f"{format_duration(v)}") for x, v in zip(xs, values, strict=True)]
    names = {x: SPECTRUM_NAMES[q] for x, q in zip(xs, qs, strict=False) if q in SPECTRUM_NAMES}
    return Line(f"latency (ms), {label}", color, points), names
