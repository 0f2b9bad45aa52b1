"""`loadclient merge` of capacity reports: the shards' steps merged rung by rung and judged
again on the merged figures (exactly as one generator's steps are)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadclient.capacity import CapacitySettings, Search
from loadclient.capacity_report import Step, capacity_json, capacity_text, exit_code_of, judge
from loadclient.durations import parse_duration_ns
from loadclient.exits import EXIT_USAGE
from loadclient.merge import merge_command, merge_reports, read_reports
from loadclient.mergeable import NotMergeable
from loadclient.report import write_json
from loadclient.thresholds import Schedule, Thresholds


def merge_capacity(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge_capacity merges capacity reports of one ladder: the rungs all of them ran."""
    caps = [r["capacity"] for r in reports]
    first = caps[0]
    s = first["settings"]
    settings = CapacitySettings(
        start_rate=s["start_rate"], max_rate=s["max_rate"], growth=s["growth"],
        precision=s["precision"], warm_up_ns=parse_duration_ns(s["warm_up"]),
        window_ns=parse_duration_ns(s["step_window"]), max_steps=s["max_steps"],
    )  # fmt: skip
    objectives = Thresholds(**first["objectives"])
    schedule = Schedule(**first["schedule"])
    search = Search(settings, fixed_ladder=True)
    steps: list[Step] = []
    for i in range(min(len(c["steps"]) for c in caps)):
        parts = [c["steps"][i] for c in caps]
        if len({p["rate"] for p in parts}) != 1:
            raise NotMergeable(f"step {i + 1}: the reports tried different rates (not one ladder)")
        merged = merge_reports([p["report"] for p in parts])
        early = next((p["stopped_early"] for p in parts if p["stopped_early"]), "") or ""
        merged.verdict = None
        verdict, reasons = judge(merged, early, objectives, schedule)
        steps.append(Step(parts[0]["rate"], verdict, reasons, merged.to_json(), early,
                          any(p["in_warm_up"] for p in parts)))  # fmt: skip
        search.record(steps[-1].rate, verdict)
    out = capacity_json(steps, search, settings, objectives, schedule, len(reports))
    out["merged_reports"] = len(reports)
    return out


def merge_any(paths: Sequence[Path], quiet: bool = False) -> int:
    """Merge_any merges capacity reports rung by rung, other reports as `merge` always has."""
    reports = read_reports(paths)
    if reports is None:
        return EXIT_USAGE
    kinds = {isinstance(r, dict) and "capacity" in r for r in reports}
    if kinds == {True, False}:
        print("loadclient merge: capacity reports and run reports cannot be merged together",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    if kinds == {False}:
        return merge_command(reports, quiet)
    try:
        out = merge_capacity(reports)
    except (KeyError, TypeError, ValueError) as exc:
        print(f"loadclient merge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    write_json(out)
    if not quiet:
        sys.stderr.write(capacity_text(out))
    return exit_code_of(out)
