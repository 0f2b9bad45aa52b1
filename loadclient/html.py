"""A self-contained HTML report: inline SVG charts, nothing fetched, no scripts."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from loadclient.durations import format_duration
from loadclient.histogram import Histogram

W, H = 760, 280
LEFT, RIGHT, BOTTOM = 56, 16, 44  # plot margins; the top one grows with the legend's rows
LEGEND_ROW = 16
MAX_DOTS = 150  # more points than this and the dots merge into a smear: draw only the line
LATENCY_KEYS = ("mean", "50th", "90th", "99th", "99.9th", "max")
SPECTRUM = (0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999)
SPECTRUM_NAMES = {0.0: "min", 0.5: "50%", 0.9: "90%", 0.99: "99%", 0.999: "99.9%",
                  0.9999: "99.99%", 0.99999: "99.999%"}  # fmt: skip
CLASS_COLORS = {"2": "#29a36a", "3": "#2f6fdf", "4": "#f1a208", "5": "#d62728", "0": "#666666",
                "": "#000000"}  # fmt: skip
SPARE_COLORS = ("#9b59b6", "#17becf", "#8c564b", "#e377c2", "#bcbd22")


class Line(NamedTuple):
    """Line is one chart series: points are (x, y, tooltip); dash is an SVG dash pattern."""

    name: str
    color: str
    points: Sequence[tuple[float, float, str]]
    dash: str = ""


def _step(span: float, n: int) -> float:
    """_step is the 1, 2 or 5 times a power of ten that cuts span into at most about n parts."""
    raw = span / n
    base = 10.0 ** math.floor(math.log10(raw))
    return next(base * m for m in (1, 2, 5, 10) if raw <= base * m * (1 + 1e-9))


def _chart(title: str, lines: Sequence[Line], x_label: str, y_label: str,
           x_names: Mapping[float, str] | None = None) -> str:  # fmt: skip
    """_chart draws lines on linear axes from y=0; later lines are drawn over earlier ones."""
    pts = [p for line in lines for p in line.points]
    head = f"<h2>{html.escape(title)}</h2>"
    if not pts:
        return head + "<p>no data</p>"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    x1 = x1 if x1 > x0 else x0 + 1
    y_step = _step(max(p[1] for p in pts) * 1.05 or 1.0, 5)
    y1 = math.ceil(max(p[1] for p in pts) * 1.05 / y_step) * y_step or y_step

    legend, lx, ly = [], LEFT, 14
    for line in lines:
        if lx > LEFT and lx + 22 + 6.5 * len(line.name) > W - RIGHT:
            lx, ly = LEFT, ly + LEGEND_ROW
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        legend.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly}" y2="{ly}" stroke="{line.color}" '
            f'stroke-width="2"{dash}/><text x="{lx + 22}" y="{ly + 4}">'
            f"{html.escape(line.name)}</text>"
        )
        lx += 34 + 7 * len(line.name)
    top = ly + 20

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def sy(y: float) -> float:
        return H - BOTTOM - y / y1 * (H - top - BOTTOM)

    out = [head + f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">', *legend]
    for k in range(round(y1 / y_step) + 1):
        y = k * y_step
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" '
            f'text-anchor="end">{y:.6g}</text>'
        )
    if x_names is None:
        x_step = _step(x1 - x0, 8)
        first = math.ceil(x0 / x_step - 1e-9)
        last = math.floor(x1 / x_step + 1e-9)
        x_names = {k * x_step: f"{k * x_step:.6g}" for k in range(first, last + 1)}
    for x, name in x_names.items():
        out.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{H - BOTTOM}" '
            f'y2="{H - BOTTOM + 4}" stroke="#999"/><text x="{sx(x):.1f}" '
            f'y="{H - BOTTOM + 16}" text-anchor="middle">{html.escape(name)}</text>'
        )
    for line in lines:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in line.points)
        out.append(
            f'<polyline fill="none" stroke="{line.color}" stroke-width="1.6"{dash} '
            f'points="{path}"><title>{html.escape(line.name)}</title></polyline>'
        )
        if len(line.points) <= MAX_DOTS:
            out.extend(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.2" fill="{line.color}">'
                f"<title>{html.escape(tip)}</title></circle>"
                for x, y, tip in line.points
            )
    out.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" '
        f'stroke="#999"/><text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" '
        f'text-anchor="middle">{html.escape(x_label)}</text><text x="14" '
        f'y="{(top + H - BOTTOM) / 2}" transform="rotate(-90 14 {(top + H - BOTTOM) / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text></svg>'
    )
    return "\n".join(out)


def _unit(max_ns: float) -> tuple[str, float]:
    """_unit picks ms for the latency axis, or s once values reach 10 s (30000 ms is unreadable)."""
    return ("s", 1e9) if max_ns >= 10e9 else ("ms", 1e6)


def _over_time(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Line], str]:
    """_over_time is p50, p99, max latency per interval; max dashed, as p99 often equals it."""
    unit, div = _unit(max((r["max_ns"] for r in rows), default=0))
    styles = (("p50", "#2f6fdf", ""), ("p99", "#d62728", ""), ("max", "#29a36a", "4 3"))
    lines = []
    for k, color, dash in styles:
        ns = [(r["t_s"], r[f"{k}_ns"]) for r in rows]
        points = [(t, v / div, f"{k} {format_duration(v)} at {t:g} s") for t, v in ns]
        lines.append(Line(f"{k} ({unit})", color, points, dash))
    return lines, unit


def _spectrum(latency: Histogram) -> tuple[list[Line], dict[float, str], str]:
    if not latency.total:
        return [], {}, "ms"
    # Quantiles the sample resolves (1/(1-q) below the request count, not so close to it that
    # the label would sit on "max"), then the maximum at the far right.
    top = math.log10(max(10, latency.total))
    qs = [q for q in SPECTRUM if math.log10(1 / (1 - q)) < top - 0.1]
    xs = [math.log10(1 / (1 - q)) for q in qs] + [top]
    values = [*latency.percentiles(qs), latency.max]
    unit, div = _unit(latency.max)
    tips = [SPECTRUM_NAMES.get(q, f"{q * 100:g}%") for q in qs] + ["max"]
    points = [
        (x, v / div, f"{t}: {format_duration(v)}") for x, v, t in zip(xs, values, tips, strict=True)
    ]
    names = {x: SPECTRUM_NAMES[q] for x, q in zip(xs, qs, strict=False) if q in SPECTRUM_NAMES}
    names[top] = "max"
    return [Line(f"latency ({unit})", "#2f6fdf", points)], names, unit


def _rates(rows: Sequence[Mapping[str, Any]]) -> list[Line]:
    """_rates is the offered rate (the schedule) beside the achieved one, per interval."""
    if not rows or "offered_per_s" not in rows[0]:
        return []
    styles = (("offered", "offered_per_s", "#999999", "4 3"),
              ("achieved", "achieved_per_s", "#2f6fdf", ""))  # fmt: skip
    return [
        Line(name, color, [(r["t_s"], r[key], f"{name} {r[key]:.1f}/s at {r['t_s']:g} s")
                           for r in rows], dash)
        for name, key, color, dash in styles
    ]  # fmt: skip


def _codes(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Line], str]:
    """_codes is responses per second by status, then errors of any kind (a 200 can be one)."""
    gaps = [b["t_s"] - a["t_s"] for a, b in zip(rows, rows[1:], strict=False)]
    per_s = 1 / min(gaps) if gaps else 1.0  # one interval alone has no known width
    unit = "responses per second" if gaps else "responses in the interval"
    series: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for c in sorted({c for r in rows for c in r["status_codes"]}, key=int):
        name = "no response (0)" if c == "0" else f"status {c}"
        series[name, c[0]] = [(r["t_s"], r["status_codes"].get(c, 0)) for r in rows]
    if any(r["errors"] for r in rows):  # last, so drawn over the codes it often equals
        series["errors (any kind)", ""] = [(r["t_s"], r["errors"]) for r in rows]
    lines, used = [], set()
    for i, ((name, cls), counts) in enumerate(series.items()):
        # Colour by class (2xx green, 5xx red, ...); a second code of a class gets a spare one.
        color = CLASS_COLORS.get(cls, SPARE_COLORS[i % len(SPARE_COLORS)])
        color = SPARE_COLORS[i % len(SPARE_COLORS)] if color in used else color
        used.add(color)
        points = [(t, n * per_s, f"{name}: {n} at {t:g} s") for t, n in counts]
        lines.append(Line(name, color, points, "2 3" if not cls else ""))
    return lines, unit


def html_report(
    report: Mapping[str, Any], latency: Histogram, rows: Sequence[Mapping[str, Any]]
) -> str:
    """Html_report renders the summary, latency over time, the percentile spectrum and codes."""
    over_time, unit = _over_time(rows)
    spectrum, spectrum_names, spectrum_unit = _spectrum(latency)
    codes, codes_unit = _codes(rows)
    lat = report["latencies"]
    verdict = report.get("verdict", {})
    summary = {
        "requests": report["requests"], "dropped (due, never sent)": report.get("dropped", 0),
        "rate (achieved / target)":
        f"{report['achieved_rate']:.2f} / {report['target_rate']:.2f} per s",
        "success": f"{report['success'] * 100:.2f}%",
        **{f"latency {k}": format_duration(lat[k]) for k in LATENCY_KEYS},
        "send lag p99": format_duration(report["send_lag"]["99th"]),
        "status codes": _counts(report["status_codes"]),
        "errors by kind": _counts(report["error_counts"]),
        "X-Cache": _counts(report["cache"]),
    }  # fmt: skip
    if report.get("hit_ratio") is not None:
        summary["hit ratio (X-Cache)"] = f"{report['hit_ratio']:.4f}"
    if verdict:
        summary["verdict"] = "passed" if verdict.get("passed") else "FAILED"
    notes = [*verdict.get("behind", []), *verdict.get("failures", [])]
    if verdict.get("interrupted"):
        notes.insert(0, "Interrupted (Ctrl-C): this report covers only the requests sent before it")
    table = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    meta = "<br>".join(
        html.escape(m) for m in (_what(report.get("config", {})), _period(report)) if m
    )
    errors = "".join(f"<li>{html.escape(e)}</li>" for e in report["errors"])
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>loadclient report</title>
<style>body{{font:14px sans-serif;margin:24px;max-width:{W}px}}
th{{text-align:left;padding-right:16px}} li{{overflow-wrap:anywhere}} p.meta{{color:#555}}
svg{{max-width:100%;height:auto}} svg text{{font:11px sans-serif}}
.bad{{color:#c0392b;font-weight:bold}}</style></head><body>
<h1>loadclient report</h1>
<p class="meta">{meta}</p>
{"".join(f'<p class="bad">{html.escape(n)}</p>' for n in notes)}
<table>{table}</table>
{_chart("Latency over time (from each request's due time)", over_time,
        "seconds since start (by due time)", unit)}
{_chart("Offered and achieved rate over time", _rates(rows),
        "seconds since start (by due time)", "requests per second") if _rates(rows) else ""}
{_chart("Latency percentile spectrum", spectrum, "percentile (log scale)", spectrum_unit,
        spectrum_names)}
{_chart("Status codes over time", codes, "seconds since start (by due time)", codes_unit)}
<h2>Errors</h2><ul>{errors or "<li>none</li>"}</ul>
</body></html>
"""  # fmt: skip


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "none"


def _period(report: Mapping[str, Any]) -> str:
    """_period is "earliest – end"; Go's zero time stands for "never" (nothing sent or done)."""
    earliest, end = (report[k] for k in ("earliest", "end"))
    if end.startswith("0001-"):
        return "no request completed"
    return end if earliest.startswith("0001-") else f"{earliest} \u2013 {end}"


def _what(config: Mapping[str, Any]) -> str:
    """_what says what was attacked and how, from the report's config (absent in unit tests)."""
    if not {"cache", "rate", "duration", "hit_ratio"} <= config.keys():
        return ""
    return (f"GET {config['cache']}/cas/<digest> at {config['rate']} for {config['duration']}, "
            f"hit ratio {config['hit_ratio']:g}")  # fmt: skip
