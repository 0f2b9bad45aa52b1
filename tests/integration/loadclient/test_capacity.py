"""`loadclient capacity` against fakecas of known capacity (one worker, a fixed service time,
a queue beyond it), and `run --stages` keeping each stage's rate."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.loadclient.conftest import REPO, interrupt, interruptible, run_loadclient
from tests.support import PYTHON, ServerProcess

Start = Callable[..., ServerProcess]
# Short steps keep this test short; the search's defaults (2 s + 5 s) are for real use.
QUICK = ("--warm-up", "300ms", "--step-window", "1s", "--start-rate", "100", "--timeout", "2s")


def capacity(url: str, *args: str, timeout_s: float = 90.0) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [PYTHON, "-m", "loadclient", "capacity", "--cas", url, "--cache", url, "--size", "2000",
         *QUICK, *args],
        capture_output=True, text=True, timeout=timeout_s, cwd=REPO,
    )  # fmt: skip
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


@pytest.mark.timing
def test_finds_a_known_capacity_within_ten_percent(fakecas: Start, tmp_path: Path) -> None:
    server = fakecas(service_ms=3.333)  # one worker: 300/s
    html = tmp_path / "capacity.html"
    # p90, not p99: on a shared machine a few requests stall anyway; past capacity all queue.
    code, report, err = capacity(server.base_url, "--max-p90", "30ms", "--html", str(html))
    assert code == 0, err
    c = report["capacity"]
    assert c["outcome"] == "found"
    assert 270 <= c["sustained_rate"] <= 330, c
    steps = c["steps"]
    assert [s["verdict"] for s in steps][:3] == ["pass", "pass", "fail"]  # 100, 200, 400
    assert all(s["verdict"] == "pass" for s in steps if s["rate"] <= c["sustained_rate"])
    assert any(s["stopped_early"] == "target" for s in steps)  # overload ends a step early
    assert {"rate", "achieved_rate", "p50", "p99", "max", "error_share", "verdict"} <= steps[
        0
    ].keys()
    assert report["latencies"]["90th"] <= 30_000_000  # the top level is the sustained step
    page = html.read_text()
    assert "knee: " in page and "Latency against offered rate" in page
    assert "capacity: " in err


def test_reports_the_generators_limit_when_the_target_is_faster(fakecas: Start) -> None:
    server = fakecas(service_ms=5, concurrency=0)  # no queue: any rate, 5 ms each
    # Two connections carry at most ~400/s of 5 ms answers: the generator's limit.
    code, report, err = capacity(
        server.base_url, "--max-p99", "50ms", "--connections", "2", "--max-connections", "2"
    )
    assert code == 4, err
    c = report["capacity"]
    assert c["outcome"] == "generator-limit"
    assert c["generator_limit_rate"] and c["sustained_rate"] < c["generator_limit_rate"]
    assert c["steps"][-1]["verdict"] == "generator-limit"
    assert report["verdict"]["behind"]


def test_usage_errors(fakecas: Start) -> None:
    url = fakecas().base_url
    assert capacity(url)[0] == 2  # no objective
    assert capacity(url, "--max-p99", "10ms", "--start-rate", "0")[0] == 2
    assert capacity(url, "--max-p99", "10ms", "--hit-ratio", "0.5")[0] == 2


def test_ctrl_c_ends_the_search_with_the_steps_that_ended(fakecas: Start) -> None:
    # A step cut short by Ctrl-C was once judged on its fraction of a window (and passed),
    # and the search went on and exited 0 as if nothing had happened.
    url = fakecas().base_url
    proc = interruptible(
        [PYTHON, "-m", "loadclient", "capacity", "--cas", url, "--cache", url, "--size", "2000",
         "--max-p99", "1s", "--warm-up", "0s", "--step-window", "1s", "--start-rate", "50",
         "--max-send-lag", "1s"],
    )  # fmt: skip
    assert proc.stderr is not None
    for _ in range(200):  # bounded: the first step's line comes within seconds
        line = proc.stderr.readline()
        if not line or "capacity: 50/s:" in line:
            break
    time.sleep(0.3)  # inside the second step (1 s window)
    out, err = interrupt(proc)
    assert proc.returncode == 130, err
    report = json.loads(out)
    steps = report["capacity"]["steps"]
    assert [(s["rate"], s["verdict"], s["requests"]) for s in steps] == [(50, "pass", 50)]
    assert report["verdict"]["interrupted"] is True and report["verdict"]["passed"] is False
    assert "interrupted" in err


def test_sharded_ladders_merge_rung_by_rung(fakecas: Start, tmp_path: Path) -> None:
    url = fakecas().base_url
    start = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    common = [PYTHON, "-m", "loadclient", "capacity", "--cas", url, "--cache", url,
              "--size", "2000", "--seed", "s1", "--start-at", start, "--max-p99", "1s",
              "--max-rate", "400", "--warm-up", "200ms", "--step-window", "500ms",
              "--timeout", "500ms", "--max-send-lag", "1s", "--quiet"]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*common, "--shard", f"{i}/2", "--output", str(tmp_path / f"{i}.json")],
            cwd=REPO,
            text=True,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    merged = subprocess.run(
        [PYTHON, "-m", "loadclient", "merge", str(tmp_path / "0.json"), str(tmp_path / "1.json")],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    c = json.loads(merged.stdout)["capacity"]
    assert [s["rate"] for s in c["steps"]] == [100, 200, 400]
    assert c["outcome"] == "at-max-rate" and c["sustained_rate"] == 400
    # Each rung's requests are both shards' halves: the whole rate over the window.
    assert [s["requests"] for s in c["steps"]] == [50, 100, 200]


def test_stages_keep_each_stages_rate(fakecas: Start, tmp_path: Path) -> None:
    server = fakecas()
    html = tmp_path / "staged.html"
    run = run_loadclient(
        "--cas", server.base_url, "--cache", server.base_url, "--size", "2000", "--quiet",
        "--stages", "500ms:200,1s:600,500ms:0", "--html", str(html),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.report is not None
    stages = run.report["stages"]
    assert [s["stage"] for s in stages] == ["500ms:200", "1s:600", "500ms:0"]
    assert [s["offered_requests"] for s in stages] == [50, 400, 150]
    for s in stages:
        assert abs(s["achieved_rate"] - s["target_rate"]) <= 0.01 * s["target_rate"], s
    assert run.report["requests"] == 600 and run.report["dropped"] == 0
    assert "Offered and achieved rate over time" in html.read_text()
    both = run_loadclient("--cache", server.base_url, "--stages", "1s:10", "--rate", "5")
    assert both.code == 2 and "--stages replaces" in both.stderr
