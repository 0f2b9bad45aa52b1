"""The warm-up HEAD on each pre-opened connection, against real servers on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.loadclient.conftest import run_loadclient
from tests.support import ServerProcess

MS = 1_000_000
Start = Callable[..., ServerProcess]


@pytest.mark.timing
def test_warm_connections_do_not_hold_casserver_threads(casserver: Start, tmp_path: Path) -> None:
    # casserver's gunicorn gthread workers (2 x 8 threads) give each new connection a thread
    # that waits up to 5 s for its first request. 32 warm connections that never carried one
    # held all 16 threads: requests waited seconds for a thread (without the warm-up HEAD:
    # p50 3.6 s, max 5.0 s here; the reviewer saw 9/10 s). After the HEAD each is parked as
    # an idle keep-alive connection: a few ms. 1 s leaves a loaded machine ample room while
    # the stall it guards against is measured in whole seconds.
    cas = casserver(storage=tmp_path / "store", workers=2)
    run = run_loadclient(
        "--cas", cas.base_url, "--cache", cas.base_url, "--rate", "5/1s", "--duration", "3s",
        "--connections", "32", "--quiet",
    )  # fmt: skip
    r = run.report
    assert r is not None, run.stderr
    assert run.code == 0, run.stderr
    assert r["requests"] == 15 and r["success"] == 1.0, r["errors"]
    assert r["status_codes"] == {"200": 15}  # the 32 warm-up HEADs are not results
    assert r["latencies"]["max"] < 1000 * MS, r["latencies"]
    assert run.stderr == ""  # every HEAD was answered 200: nothing to warn about


def test_head_answered_with_an_error_is_a_warning_not_a_failure(fakecas: Start) -> None:
    srv = fakecas(head_status=405)  # a server without HEAD still serves the GETs measured
    run = run_loadclient(
        "--cas", srv.base_url, "--cache", srv.base_url, "--rate", "50/1s", "--duration", "1s",
        "--connections", "4", "--quiet",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    r = run.report
    assert r is not None
    assert r["requests"] == 50 and r["success"] == 1.0 and r["status_codes"] == {"200": 50}
    assert "warm-up HEAD" in run.stderr and "answered 405 Head Status on 4 of 4" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.timing
def test_unanswered_head_ends_the_warm_up_within_the_timeout(fakecas: Start) -> None:
    srv = fakecas(head_silent=1)
    started = time.monotonic()
    run = run_loadclient(
        "--cas", srv.base_url, "--cache", srv.base_url, "--rate", "20/1s", "--duration", "1s",
        "--connections", "4", "--timeout", "500ms", "--quiet",
    )  # fmt: skip
    elapsed_s = time.monotonic() - started
    assert run.code == 0, run.stderr
    r = run.report
    assert r is not None
    # The stuck connections are dropped; the attack opens fresh ones as it needs them.
    assert r["requests"] == 20 and r["success"] == 1.0, r["errors"]
    assert "no answer within the timeout on 4 of 4" in run.stderr
    assert elapsed_s < 10, elapsed_s  # upload, 0.5 s of warm-up, 1 s of attack, start-up
