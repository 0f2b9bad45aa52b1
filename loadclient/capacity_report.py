"""A capacity search's report: the JSON (a run report of the sustained step, plus `capacity`
with every step), its text and HTML views, and the step-by-step merge of sharded searches."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadclient.capacity import (
    FAIL,
    GENERATOR_LIMIT,
    PASS,
    CapacitySettings,
    Search,
)
from loadclient.durations import format_duration
from loadclient.exits import EXIT_BEHIND, EXIT_OK, EXIT_THRESHOLD
from loadclient.html import Line, _chart
from loadclient.report import Report, Verdict
from loadclient.stoprule import GENERATOR, TARGET
from loadclient.thresholds import Schedule, Thresholds, behind, evaluate

EXIT_BY_OUTCOME = {"found": EXIT_OK, "at-max-rate": EXIT_OK, "none-passed": EXIT_THRESHOLD,
                   "generator-limit": EXIT_BEHIND}  # fmt: skip


@dataclass(slots=True)
class Step:
    """Step is one rate tried: its steady window's report (JSON) and the verdict on it."""

    rate: int  # offered by all generators together, per second
    verdict: str  # capacity.PASS, FAIL or GENERATOR_LIMIT
    reasons: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)  # the step's full run report
    stopped_early: str = ""  # "target" or "generator" when the step ended early, else ""
    in_warm_up: bool = False  # decided (failed) during the warm-up, before its window

    def to_json(self) -> dict[str, Any]:
        """To_json is one entry of `capacity.steps`."""
        r = self.report
        lat = r["latencies"]
        return {
            "rate": self.rate, "achieved_rate": r["achieved_rate"], "requests": r["requests"],
            "dropped": r["dropped"], "p50": lat["50th"], "p99": lat["99th"], "max": lat["max"],
            "error_share": 1.0 - r["success"] if r["requests"] else 0.0,
            "send_lag_p99": r["send_lag"]["99th"], "verdict": self.verdict,
            "reasons": self.reasons, "stopped_early": self.stopped_early or None,
            "in_warm_up": self.in_warm_up, "report": r,
        }  # fmt: skip


def judge(report: Report, stopped_early: str, t: Thresholds, s: Schedule) -> tuple[str, list[str]]:
    """Judge is a step's verdict and its reasons: the generator's limit before the target's."""
    failures, late = evaluate(report, t), behind(report, s)
    if stopped_early == TARGET:
        return FAIL, failures or ["stopped early: the objectives could no longer be met"]
    if stopped_early == GENERATOR or late:
        return GENERATOR_LIMIT, late or ["stopped early: the generator fell behind"]
    return (FAIL, failures) if failures else (PASS, [])


def capacity_json(
    steps: Sequence[Step], search: Search, settings: CapacitySettings, t: Thresholds,
    s: Schedule, shards: int = 1,
) -> dict[str, Any]:  # fmt: skip
    """Capacity_json is the whole report: the sustained step's run report plus `capacity`."""
    passed = [st for st in steps if st.verdict == PASS]
    shown = max(passed, key=lambda st: st.rate) if passed else (steps[0] if steps else None)
    out: dict[str, Any] = dict(shown.report) if shown else {}
    failed = [st.rate for st in steps if st.verdict == FAIL]
    out["capacity"] = {
        "sustained_rate": search.passed,
        "outcome": search.outcome,
        "lowest_failing_rate": min(failed) if failed else None,
        "generator_limit_rate": search.generator_limit or None,
        "shards": shards,
        "settings": {
            "start_rate": settings.start_rate, "max_rate": settings.max_rate,
            "growth": settings.growth, "precision": settings.precision,
            "warm_up": format_duration(settings.warm_up_ns),
            "step_window": format_duration(settings.window_ns), "max_steps": settings.max_steps,
        },
        "objectives": {k: v for k, v in asdict(t).items() if v is not None},
        "schedule": asdict(s),
        "steps": [st.to_json() for st in steps],
    }  # fmt: skip
    out["verdict"] = Verdict(
        [] if search.outcome != "none-passed" else ["even the lowest rate fails the objectives"],
        [] if not search.generator_limit else
        [f"the generator could not keep {search.generator_limit}/s: the target sustains at "
         f"least {search.passed}/s"],
    ).to_json()  # fmt: skip
    return out


def exit_code_of(report: Mapping[str, Any]) -> int:
    """Exit_code_of maps a capacity report's outcome to the exit code (0, 1 or 4)."""
    return EXIT_BY_OUTCOME[report["capacity"]["outcome"]]


def capacity_text(report: Mapping[str, Any]) -> str:
    """Capacity_text is the steps as a table, then the outcome, for people."""
    c = report["capacity"]
    lines = [f"{'rate/s':>8} {'achieved':>9} {'p50':>10} {'p99':>10} {'max':>10} "
             f"{'errors':>7}  verdict"]  # fmt: skip
    for st in c["steps"]:
        lines.append(
            f"{st['rate']:>8} {st['achieved_rate']:>9.1f} {format_duration(st['p50']):>10} "
            f"{format_duration(st['p99']):>10} {format_duration(st['max']):>10} "
            f"{st['error_share']:>7.2%}  {st['verdict']}"
            + (f" ({st['stopped_early']} stopped it early)" if st["stopped_early"] else "")
        )
    lines.append(_outcome(c))
    return "\n".join(lines) + "\n"


def _outcome(c: Mapping[str, Any]) -> str:
    rate, outcome = c["sustained_rate"], c["outcome"]
    if outcome == "found":
        return f"capacity: {rate}/s sustained (fails at {c['lowest_failing_rate']}/s)"
    if outcome == "at-max-rate":
        return f"capacity: at least {rate}/s (--max-rate passed)"
    if outcome == "generator-limit":
        return (f"capacity: the generator was the limit at {c['generator_limit_rate']}/s; "
                f"the target sustains at least {rate}/s")  # fmt: skip
    return "capacity: even the lowest rate fails the objectives"


def capacity_html(report: Mapping[str, Any]) -> str:
    """Capacity_html charts latency and errors against offered rate, the knee marked."""
    c = report["capacity"]
    steps = sorted(c["steps"], key=lambda st: st["rate"])
    top = max((st["max"] for st in steps), default=0)
    unit, div = ("s", 1e9) if top >= 10e9 else ("ms", 1e6)
    lat = [
        Line(f"{k} ({unit})", color, [(st["rate"], st[k] / div,
             f"{k} {format_duration(st[k])} at {st['rate']}/s ({st['verdict']})") for st in steps],
             dash)
        for k, color, dash in (("p50", "#2f6fdf", ""), ("p99", "#d62728", ""),
                               ("max", "#29a36a", "4 3"))
    ]  # fmt: skip
    errors = [Line("error share (%)", "#d62728", [(st["rate"], st["error_share"] * 100,
                   f"{st['error_share']:.2%} at {st['rate']}/s") for st in steps])]  # fmt: skip
    knee = c["sustained_rate"]
    if knee and steps:
        lat.append(_marker(knee, max(st["max"] / div for st in steps)))
        errors.append(_marker(knee, max(100 * st["error_share"] for st in steps) or 1.0))
    rows = "".join(
        f"<tr><td>{st['rate']}</td><td>{st['achieved_rate']:.1f}</td>"
        f"<td>{format_duration(st['p50'])}</td><td>{format_duration(st['p99'])}</td>"
        f"<td>{format_duration(st['max'])}</td><td>{st['error_share']:.2%}</td>"
        f"<td>{html.escape(st['verdict'])}</td></tr>"
        for st in c["steps"]
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>loadclient capacity</title>
<style>body{{font:14px sans-serif;margin:24px;max-width:760px}} td,th{{padding:0 8px}}
svg{{max-width:100%;height:auto}} svg text{{font:11px sans-serif}}</style></head><body>
<h1>loadclient capacity</h1>
<p><b>{html.escape(_outcome(c))}</b></p>
{_chart("Latency against offered rate (knee dashed)", lat, "offered rate (per second)", unit)}
{_chart("Errors against offered rate", errors, "offered rate (per second)", "% of requests")}
<h2>Steps, in the order run</h2>
<table><tr><th>rate/s</th><th>achieved</th><th>p50</th><th>p99</th><th>max</th>
<th>errors</th><th>verdict</th></tr>{rows}</table>
</body></html>
"""  # fmt: skip


def _marker(rate: float, height: float) -> Line:
    return Line(f"knee: {rate:g}/s sustained", "#000000",
                [(rate, 0.0, "knee"), (rate, height, f"{rate:g}/s sustained")], "2 4")  # fmt: skip
