"""Interim answers (100 Continue, 103 Early Hints) before each 200 are read past, not counted."""

from __future__ import annotations

from pathlib import Path

from tests.integration.loadclient.conftest import Fault, run_loadclient


def test_interim_answers_before_each_answer_are_not_the_answer(fault: Fault, blob: Path) -> None:
    url = fault("interim", delay_ms=0)
    run = run_loadclient(
        "--cache", url, "--file", str(blob), "--skip-upload", "--quiet",
        "--rate", "50", "--duration", "1s",
    )  # fmt: skip
    r = run.report
    assert r is not None, run.stderr
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert r["requests"] == 50 and r["status_codes"] == {"200": 50}, r["status_codes"]
    assert r["success"] == 1 and r["errors"] == [] and run.code == 0
    assert r["bytes_in"]["total"] == 50 * blob.stat().st_size
