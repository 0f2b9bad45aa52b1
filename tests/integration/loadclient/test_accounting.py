"""Honest accounting against hostile servers: every request once, no traceback, bounded time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.loadclient.conftest import Fault, Run, run_loadclient


def attack(url: str, blob: Path, *args: str, wrap: tuple[str, ...] = ()) -> tuple[Run, float]:
    began = time.monotonic()
    run = run_loadclient(
        "--cache", url, "--file", str(blob), "--skip-upload", "--quiet", *args, wrap=wrap
    )
    return run, time.monotonic() - began


def assert_clean(run: Run) -> dict[str, Any]:
    """Assert_clean: a report, no traceback, and every result counted once in each tally."""
    for sign in ("Traceback", "Task exception was never retrieved", "Exception in callback"):
        assert sign not in run.stderr, run.stderr[-3000:]
    r = run.report
    assert r is not None, run.stderr
    assert sum(r["status_codes"].values()) == r["requests"]
    failed = sum(r["error_counts"].values())
    assert failed == r["requests"] - round(r["success"] * r["requests"])
    return r


def test_a_server_that_accepts_and_closes_at_once(fault: Fault, blob: Path) -> None:
    url = fault("close")
    run, _ = attack(url, blob, "--rate", "200", "--duration", "2s", "--timeout", "5s")
    r = assert_clean(run)
    assert r["requests"] == 400 and r["dropped"] == 0
    assert r["success"] == 0 and r["status_codes"] == {"0": 400}
    # Each one a closed connection, none a false timeout (5 s would show in the latencies).
    assert r["error_counts"]["timeout"] == 0, r["error_counts"]
    assert r["error_counts"]["protocol"] + r["error_counts"]["connect"] == 400
    assert r["latencies"]["max"] < 1_000_000_000
    assert run.code == 1 and r["verdict"]["failures"] == ["no request succeeded"]


def test_a_server_that_resets_mid_body(fault: Fault, blob: Path) -> None:
    url = fault("reset")
    run, _ = attack(url, blob, "--rate", "100", "--duration", "2s", "--timeout", "5s")
    r = assert_clean(run)
    assert r["requests"] == 200 and r["dropped"] == 0
    assert r["error_counts"]["protocol"] == 200, r["error_counts"]
    assert r["bytes_in"]["total"] == 0  # a body cut short is no bytes, as in vegeta
    assert any("reset" in e.lower() or "closed" in e for e in r["errors"]), r["errors"]
    assert run.code == 1


@pytest.mark.timing
def test_overload_at_ten_times_capacity_stays_within_the_window(fault: Fault, blob: Path) -> None:
    # The server answers one request at a time, 5 ms each: 200/s. Offer 2000/s for 2 s.
    url = fault("slow", delay_ms=5)
    duration_s, timeout_s = 2, 1
    run, wall_s = attack(
        url, blob, "--rate", "2000", "--duration", f"{duration_s}s", "--timeout", f"{timeout_s}s",
        "--max-error-rate", "0.01",
    )  # fmt: skip
    r = assert_clean(run)
    assert r["requests"] + r["dropped"] == 4000  # every scheduled request, exactly once
    assert 0 < r["success"] < 0.5
    assert r["error_counts"]["timeout"] > 0
    assert wall_s < duration_s + timeout_s + 2, wall_s
    assert run.code in (1, 4), r["verdict"]


def test_a_descriptor_limit_gives_a_generator_limited_verdict(fault: Fault, blob: Path) -> None:
    # 256 descriptors cannot hold the ~500 connections a silent server makes it want.
    url = fault("silent")
    run, _ = attack(
        url, blob, "--rate", "500", "--duration", "1s", "--timeout", "1s",
        wrap=("bash", "-c", 'ulimit -n 256 && exec "$@"', "ulimit"),
    )  # fmt: skip
    r = assert_clean(run)
    assert run.code == 4, r["verdict"]
    assert r["generator"]["fd_limited"] and r["generator"]["pool_limit"] <= 256
    assert any("descriptor limit" in why for why in r["verdict"]["behind"]), r["verdict"]
    assert r["requests"] + r["dropped"] == 500


def test_a_slow_server_within_its_capacity_passes(fault: Fault, blob: Path) -> None:
    # The same server below its capacity: the fault server itself is not what fails above.
    url = fault("slow", delay_ms=1)
    run, _ = attack(url, blob, "--rate", "50", "--duration", "1s")
    r = assert_clean(run)
    assert r["requests"] == 50 and r["success"] == 1 and r["dropped"] == 0 and run.code == 0
