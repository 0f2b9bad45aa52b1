"""Metrics are coherent across worker processes; every log line is JSON; nothing is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS, wait_for
from tests.support import ServerProcess

# Each server's own loggers: (access log, server log).
SERVER_LOGGERS = {
    "granian": ("casserver.access", "_granian"),
    "gunicorn": ("gunicorn.access", "gunicorn.error"),
}

MAX_GETS = 400


def sample(text: str, line_start: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(line_start + " ")
    ]
    assert len(values) == 1, (line_start, text)
    return values[0]


def pids_with_samples(metrics_dir: Path) -> set[str]:
    """Pids_with_samples names the processes that have written counters to metrics_dir."""
    return {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


@pytest.mark.parametrize("http_server", SERVERS)
def test_metrics_are_coherent_across_workers(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    metrics_dir = tmp_path / "metrics"
    server = casserver(
        workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, server=http_server
    )
    data = b"counted" * 1000
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{server.base_url}/cas/{sha256}", data=data, timeout=10).status_code == 201
    assert server.proc is not None
    master = server.proc.pid
    assert wait_for(lambda: len(worker_pids(master)) == 2)
    workers = worker_pids(master)

    # The kernel decides which worker accepts each new connection, so keep making
    # requests (at least one batch, a bounded number) until every worker has recorded some.
    gets = 0
    while gets == 0 or (
        gets < MAX_GETS and not {str(pid) for pid in workers} <= pids_with_samples(metrics_dir)
    ):
        for _ in range(10):
            r = requests.get(f"{server.base_url}/cas/{sha256}", timeout=10)
            assert r.status_code == 200
        gets += 10
    assert {str(pid) for pid in workers} <= pids_with_samples(metrics_dir), (
        f"one worker served all {gets} requests"
    )
    get_ok = 'cas_http_requests_total{method="GET",route="/cas/{digest}",status="2xx"}'
    for _ in range(6):  # every worker answers /metrics with the same totals
        text = requests.get(f"{server.base_url}/metrics", timeout=10).text
        assert sample(text, get_ok) == gets
        assert sample(text, "cas_sent_bytes_total") == gets * len(data)
        assert sample(text, "cas_blobs_stored_total") == 1
        assert sample(text, "cas_storage_blobs") == 1
        assert sample(text, "cas_storage_bytes") == len(data)

    # A worker that dies keeps its share: counters never go backwards.
    os.kill(min(workers), signal.SIGKILL)
    assert wait_for(lambda: len(worker_pids(server.proc.pid) - {min(workers)}) == 2)
    text = requests.get(f"{server.base_url}/metrics", timeout=10).text
    assert sample(text, get_ok) == gets
    assert sample(text, "cas_storage_bytes") == len(data)


@pytest.mark.parametrize("http_server", SERVERS)
def test_every_log_line_is_json(casserver: Callable[..., ServerProcess], http_server: str) -> None:
    server = casserver(env={"CAS_ACCESS_LOG": "1"}, server=http_server)
    data = b"logged"
    requests.put(f"{server.base_url}/cas/{hashlib.sha256(data).hexdigest()}", data=data, timeout=5)
    requests.get(f"{server.base_url}/cas/{'0' * 64}", timeout=5)
    server.stop()
    records = [json.loads(line) for line in server.log_path.read_text().splitlines() if line]
    messages = [r["message"] for r in records]
    assert "blob stored" in messages
    assert any(r["message"] == "request failed" and r["status"] == 404 for r in records)
    access, server_log = SERVER_LOGGERS[http_server]
    assert any(r["logger"] == access and r.get("status") == 201 for r in records)
    assert any(r["logger"] == server_log for r in records)


def test_disk_full_is_507(casserver: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = casserver(env={"CAS_MIN_FREE_BYTES": str(1 << 62)})
    data = b"no room"
    r = requests.put(
        f"{server.base_url}/cas/{hashlib.sha256(data).hexdigest()}", data=data, timeout=5
    )
    assert r.status_code == 507
    assert r.headers["Content-Type"] == "application/problem+json"
    assert not any((tmp_path / "cas-data").rglob("*/*/*"))


@pytest.mark.parametrize("http_server", SERVERS)
def test_the_master_makes_and_removes_its_metrics_dir(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    server = casserver(env={"TMPDIR": str(scratch)}, server=http_server)
    made = list(scratch.glob("casserver-metrics-*"))
    assert len(made) == 1 and any(made[0].glob("*.db"))
    assert server.stop() == 0
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("http_server", SERVERS)
def test_a_crashed_servers_metrics_dir_is_reused_not_multiplied(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    first = casserver(env=env, server=http_server)
    port = int(first.base_url.rsplit(":", 1)[1])
    data = b"counted once"
    url = f"{first.base_url}/cas/{hashlib.sha256(data).hexdigest()}"
    assert requests.put(url, data=data, timeout=5).status_code == 201
    first.kill()  # SIGKILL: no exit hook runs
    crashed = list(scratch.glob("casserver-metrics-*"))
    assert len(crashed) == 1 and any(crashed[0].glob("*.db"))
    stale = {p.name for p in crashed[0].glob("*.db")}

    second = casserver(env=env, server=http_server, port=port)
    assert list(scratch.glob("casserver-metrics-*")) == crashed
    assert not stale & {p.name for p in crashed[0].glob("*.db")}, "stale samples were kept"
    text = requests.get(f"{second.base_url}/metrics", timeout=5).text
    assert sample(text, "cas_storage_blobs") == 1  # not the dead server's count added in
    assert second.stop() == 0
    assert list(scratch.iterdir()) == []
