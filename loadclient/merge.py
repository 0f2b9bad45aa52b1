"""`loadclient merge`: one report from the JSON reports of several generators, merged exactly."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadclient.exits import EXIT_USAGE, exit_code
from loadclient.mergeable import NotMergeable, from_state
from loadclient.metrics import Metrics
from loadclient.report import Report, Verdict, write_json
from loadclient.series import interval_for
from loadclient.stagereport import merge_stage_blocks
from loadclient.text import histogram_report, text_report


def merge_reports(reports: Sequence[dict[str, Any]]) -> Report:
    """Merge_reports adds up reports' mergeable metrics; the verdict is the union of theirs."""
    merged = Metrics(interval_for(1))
    target = 0.0
    verdict = Verdict()
    for i, report in enumerate(reports):
        m, rate = from_state(report.get("mergeable"))
        merged.merge(m)
        target += rate
        own = report.get("verdict") or {}
        verdict.failures += [f"report {i + 1}: {msg}" for msg in own.get("failures", [])]
        verdict.behind += [f"report {i + 1}: {msg}" for msg in own.get("behind", [])]
        verdict.interrupted = verdict.interrupted or bool(own.get("interrupted"))
    if merged.successes == 0 and not any("succeeded" in f for f in verdict.failures):
        verdict.failures.append("no request succeeded")
    about: dict[str, Any] = {"merged_reports": len(reports)}
    stages = merge_stage_blocks(reports)  # --stages: the shards' parts of each stage add up
    if stages is not None:
        about["stages"] = stages
    return Report(merged, 0, target, verdict, about)


def read_reports(paths: Sequence[Path], command: str = "merge") -> list[dict[str, Any]] | None:
    """Return the JSON object of each file, or None after saying on stderr which one is not."""
    reports = []
    for path in paths:
        try:
            report = json.loads(path.read_text(), parse_constant=_refuse, parse_float=_finite)
            if not isinstance(report, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            print(
                f"loadclient {command}: {path}: not a loadclient JSON report ({exc})",
                file=sys.stderr,
            )  # fmt: skip
            return None
        reports.append(report)
    return reports


def _refuse(constant: str) -> float:
    raise ValueError(f"{constant} is not a number a report holds")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a report")
    return value


def merge_command(reports: Sequence[dict[str, Any]], quiet: bool = False) -> int:
    """Print the merged report of run reports (as read_reports gives them); return the exit code."""
    try:
        merged = merge_reports(reports)
    except (ValueError, NotMergeable) as exc:
        print(f"loadclient merge: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = merged.to_json()
    write_json(out)
    if not quiet:
        sys.stderr.write(text_report(out) + "\n" + histogram_report(merged.metrics.latency))
    assert merged.verdict is not None
    return exit_code(merged.verdict)
