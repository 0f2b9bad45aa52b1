"""Merging reports: counts add, and percentiles are as exact as one run over all the requests."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from loadclient.cli import main
from loadclient.histogram import RELATIVE_ERROR
from loadclient.merge import merge_reports
from loadclient.mergeable import NotMergeable
from loadclient.metrics import Metrics
from loadclient.report import Report, Verdict
from loadclient.result import STATUS, Result

MS = 1_000_000
WALL = 1_700_000_000 * 10**9


def shard_report(latencies: list[int], first_due: int, verdict: Verdict | None = None) -> Any:
    """Shard_report is the JSON report of one generator that saw these latencies."""
    m = Metrics(10**9)
    for k, latency in enumerate(latencies):
        due = first_due + k * 2 * MS
        if k % 50 == 0:
            m.add(Result(due, due + 1000, due + latency, 503, 10, 0, STATUS, "GET x: 503"))
        else:
            m.add(Result(due, due + 1000, due + latency, 200, 25, 0, None, "", b"hit"))
    # Each generator has its own monotonic clock: only wall time lines them up.
    offset = WALL - first_due
    return json.loads(json.dumps(Report(m, offset, 250.0, verdict or Verdict()).to_json()))


def exact(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_merged_percentiles_are_within_the_histogram_error_of_the_pooled_values() -> None:
    rng = random.Random(7)
    a = [int(rng.lognormvariate(15, 1)) for _ in range(3000)]
    b = [int(rng.lognormvariate(16, 0.5)) for _ in range(2000)]
    merged = merge_reports([shard_report(a, 5 * MS), shard_report(b, 9 * MS)]).to_json()
    for key, q in (("50th", 0.5), ("90th", 0.9), ("99th", 0.99), ("99.9th", 0.999)):
        want = exact(a + b, q)
        assert abs(merged["latencies"][key] - want) <= want * RELATIVE_ERROR, key
    assert merged["latencies"]["max"] == max(a + b) and merged["latencies"]["min"] == min(a + b)
    assert merged["requests"] == 5000 and merged["target_rate"] == 500.0
    assert merged["status_codes"] == {"200": 4900, "503": 100}
    assert merged["success"] == 0.98 and merged["errors"] == ["GET x: 503"]
    assert merged["earliest"] == "2023-11-14T22:13:20.000001Z"  # the first send, 1 µs late
    assert merged["verdict"]["passed"] and merged["merged_reports"] == 2


def test_the_merged_verdict_keeps_every_generator_s_reasons() -> None:
    behind = Verdict(behind=["send lag p99 1s > 20ms"])
    failed = Verdict(failures=["latency 99th 9ms > max 5ms"])
    merged = merge_reports([shard_report([MS] * 10, 0, behind), shard_report([MS] * 10, 0, failed)])
    assert merged.verdict == Verdict(["report 2: latency 99th 9ms > max 5ms"],
                                     ["report 1: send lag p99 1s > 20ms"])  # fmt: skip


def test_merge_command_exit_codes_and_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok, late = tmp_path / "ok.json", tmp_path / "late.json"
    ok.write_text(json.dumps(shard_report([MS] * 10, 0)))
    late.write_text(json.dumps(shard_report([MS] * 10, 0, Verdict(behind=["dropped"]))))
    assert main(["merge", "--quiet", str(ok), str(ok)]) == 0
    assert json.loads(capsys.readouterr().out)["requests"] == 20
    assert main(["merge", "--quiet", str(ok), str(late)]) == 4
    capsys.readouterr()
    vegeta = tmp_path / "vegeta.json"
    vegeta.write_text(json.dumps({"requests": 3}))
    assert main(["merge", str(ok), str(vegeta)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "mergeable" in err
    assert main(["merge", str(tmp_path / "missing.json")]) == 2
    vegeta.write_text("[1, 2]")  # JSON, but not an object: once an AttributeError traceback
    assert main(["merge", str(ok), str(vegeta)]) == 2
    assert "not a loadclient JSON report (not a JSON object)" in capsys.readouterr().err
    with pytest.raises(NotMergeable):
        merge_reports([{"mergeable": {"version": 1}}])


def test_reports_of_different_kinds_or_schedules_are_not_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = shard_report([MS] * 10, 0)
    stage = {"stage": "1s:100", "offered_requests": 10, "requests": 10, "errors": 0,
             "target_rate": 100, "achieved_rate": 100}  # fmt: skip
    staged = dict(plain, stages=[stage])
    capacity = {"capacity": {"steps": []}}
    for i, pair in enumerate([(plain, staged), (plain, capacity)]):
        a, b = tmp_path / f"a{i}.json", tmp_path / f"b{i}.json"
        a.write_text(json.dumps(pair[0]))
        b.write_text(json.dumps(pair[1]))
        assert main(["merge", "--quiet", str(a), str(b)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "merged" in err, err
