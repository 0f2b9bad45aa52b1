"""`loadclient compare A.json B.json`: two reports side by side, each figure with B - A and B / A;
`--html` draws both runs' curves on the same charts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from loadclient.compare_html import compare_html
from loadclient.durations import format_duration
from loadclient.exits import EXIT_OK, EXIT_USAGE
from loadclient.merge import read_reports

# Figures in nanoseconds: shown as durations.
_NS_BLOCKS = ("latencies", "service_time", "send_lag")
_NS_FIELDS = ("duration", "wait")
_SKIP = ("mergeable", "config", "blob", "errors", "verdict", "capacity", "stages", "workload",
         "earliest", "latest", "end", "key_requests")  # fmt: skip


def _walk(prefix: str, value: Any, ns: bool) -> Iterator[tuple[str, float, bool]]:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        yield prefix, float(value), ns
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(f"{prefix}.{k}" if prefix else str(k), v, ns)


def figures(report: Mapping[str, Any]) -> Iterator[tuple[str, float, bool]]:
    """Figures yields every number of a report as (dotted name, value, is nanoseconds)."""
    for key, value in report.items():
        if key not in _SKIP:
            yield from _walk(key, value, key in _NS_BLOCKS or key in _NS_FIELDS)
    for i, stage in enumerate(report.get("stages") or []):
        if isinstance(stage, Mapping):
            yield from _walk(
                f"stages[{i}]", {k: v for k, v in stage.items() if k != "stage"}, False
            )
    cap = report.get("capacity")
    if isinstance(cap, Mapping):
        for k in ("sustained_rate", "lowest_failing_rate", "generator_limit_rate"):
            if isinstance(cap.get(k), int | float):
                yield f"capacity.{k}", float(cap[k]), False


def compare_text(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """Compare_text is one line per figure: name, A, B, B - A, B / A."""
    fa = {name: (v, ns) for name, v, ns in figures(a)}
    fb = {name: (v, ns) for name, v, ns in figures(b)}
    names = list(fa) + [n for n in fb if n not in fa]
    rows = [("figure", "A", "B", "change", "ratio")]
    for name in names:
        (va, ns_a), (vb, ns_b) = fa.get(name, (None, False)), fb.get(name, (None, False))
        ns = ns_a or ns_b
        both = va is not None and vb is not None
        change = _show(vb - va, ns, signed=True) if both else "-"  # type: ignore[operator]
        ratio = f"{vb / va:.3f}x" if both and va else "-"  # type: ignore[operator]
        rows.append((name, _show(va, ns), _show(vb, ns), change, ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                  enumerate(zip(r, widths, strict=True))).rstrip() + "\n"
        for r in rows
    )  # fmt: skip


def _show(value: float | None, ns: bool, signed: bool = False) -> str:
    if value is None:
        return "-"
    if ns:
        text = format_duration(value)
        return f"+{text}" if signed and value > 0 else text
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"
    return f"+{text}" if signed and value > 0 else text


def compare_command(args: argparse.Namespace) -> int:
    """Compare_command prints the comparison (and writes --html); it returns the exit code."""
    reports = read_reports((args.a, args.b), "compare")
    if reports is None:
        return EXIT_USAGE
    a, b = reports
    for path, report in ((args.a, a), (args.b, b)):
        if not isinstance(report.get("latencies"), Mapping):
            print(f"loadclient compare: {path}: not a loadclient JSON report (no latencies)",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    sys.stdout.write(compare_text(a, b))
    if args.html:
        args.html.write_text(compare_html(a, b, str(args.a), str(args.b)))
    return EXIT_OK
