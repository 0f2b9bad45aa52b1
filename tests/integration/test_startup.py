"""Start-up mistakes against the real programs: one line on stderr, exit 2, nothing harmed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import requests

from tests.support import PYTHON, ServerProcess, cacheserver_argv, free_port, group_alive

EXIT_CONFIG = 2


def run_to_exit(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a program that should refuse to start; return its exit code and stderr."""
    import os

    environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        argv, env=environ | (env or {}), capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def casserver_argv(port: int, storage: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "casserver", "--host", "127.0.0.1", "--port", str(port),
            "--storage", str(storage), "--workers", "1", *extra]  # fmt: skip


def casserver_process(tmp_path: Path, name: str, env: dict[str, str]) -> ServerProcess:
    """Return a casserver (not started) on a free port, storing under tmp_path / name."""
    port = free_port()
    return ServerProcess(
        casserver_argv(port, tmp_path / name),
        base_url=f"http://127.0.0.1:{port}",
        log_path=tmp_path / f"{name}.log",
        env=env,
    )


@pytest.fixture
def casserver(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(
        casserver_argv(port, tmp_path / "first"),
        base_url=f"http://127.0.0.1:{port}",
        log_path=tmp_path / "first.log",
        env={"CAS_READ_TOKEN": ""},  # empty: reads open, as compose passes it
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def has_request_metrics(server: ServerProcess) -> bool:
    requests.get(server.base_url + "/healthz", timeout=5)
    return "cas_http_requests_total" in requests.get(server.base_url + "/metrics", timeout=5).text


def test_a_second_casserver_on_a_busy_port_refuses_and_leaves_the_first_alone(
    casserver: ServerProcess, tmp_path: Path
) -> None:
    port = int(casserver.base_url.rsplit(":", 1)[1])
    assert has_request_metrics(casserver)
    code, stderr = run_to_exit(casserver_argv(port, tmp_path / "second"))
    assert code == EXIT_CONFIG
    assert f"CAS_SERVER_PORT: cannot listen on 127.0.0.1 port {port}" in one_line(stderr)
    assert has_request_metrics(casserver)  # its metrics directory is still there


def test_a_second_casserver_never_empties_a_metrics_dir_in_use(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    first = casserver_process(tmp_path, "first", env).start()
    try:
        assert has_request_metrics(first)
        code, stderr = run_to_exit(casserver_argv(free_port(), tmp_path / "second"), env)
        assert code == EXIT_CONFIG
        assert "is in use by another casserver" in one_line(stderr)
        assert has_request_metrics(first)
    finally:
        first.stop()


def test_a_metrics_dir_holding_other_databases_is_refused_and_kept(tmp_path: Path) -> None:
    """Another program's *.db in the metrics directory is neither removed nor read as samples."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1.db").write_bytes(b"stale samples")
    (metrics / "inventory.db").write_bytes(b"an operator's database")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    code, stderr = run_to_exit(casserver_argv(free_port(), tmp_path / "storage"), env)
    assert code == EXIT_CONFIG
    assert f"PROMETHEUS_MULTIPROC_DIR: {metrics} holds inventory.db, not metrics" in one_line(
        stderr
    )
    assert (metrics / "inventory.db").read_bytes() == b"an operator's database"
    assert (metrics / "counter_1.db").read_bytes() == b"stale samples"

    (metrics / "inventory.db").unlink()  # only samples: a stale run's are cleared
    server = casserver_process(tmp_path, "storage", env).start()
    try:
        assert has_request_metrics(server)
        assert not (metrics / "counter_1.db").exists()
    finally:
        server.stop()


def test_casserver_says_at_start_what_it_leaves_open(casserver: ServerProcess) -> None:
    log = casserver.log_path.read_text()
    assert "open to anyone: writes: CAS_WRITE_TOKEN unset; reads: CAS_READ_TOKEN unset" in log


def test_a_busy_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        origin = "http://127.0.0.1:9"
        cases = [
            (cacheserver_argv(port=free_port(), peer_port=busy, origin=origin), "CACHE_PEER_PORT"),
            (cacheserver_argv(port=busy, peer_port=free_port(), origin=origin), "LISTEN_PORT"),
            (cacheserver_argv(port=free_port(), peer_port=free_port(), origin=origin,
                              extra=["--metrics-port", str(busy)]), "CACHE_METRICS_PORT"),
            (casserver_argv(free_port(), tmp_path / "cas", "--metrics-port", str(busy)),
             "CAS_METRICS_PORT"),
        ]  # fmt: skip
        for argv, name in cases:
            code, stderr = run_to_exit(argv)
            assert code == EXIT_CONFIG
            assert f"{name}: cannot listen on 127.0.0.1 port {busy}" in one_line(stderr)


def test_a_second_cacheserver_on_a_busy_client_port_refuses(tmp_path: Path) -> None:
    port = free_port()
    first = ServerProcess(
        cacheserver_argv(port=port, peer_port=free_port(), origin="http://127.0.0.1:9"),
        base_url=f"http://127.0.0.1:{port}",
        log_path=tmp_path / "first.log",
        env={"CACHE_PEER_TOKEN": ""},
    )
    first.start()
    try:
        argv = cacheserver_argv(port=port, peer_port=free_port(), origin="http://127.0.0.1:9")
        code, stderr = run_to_exit(argv)
        assert code == EXIT_CONFIG and "LISTEN_PORT" in one_line(stderr)
        assert "open to anyone: peer port: CACHE_PEER_TOKEN unset" in first.log_path.read_text()
    finally:
        first.stop()


BAD = [
    (["casserver"], {"CAS_SERVER_PORT": "abc"}, "CAS_SERVER_PORT must be an integer, got 'abc'"),
    (["casserver"], {"CAS_WRITE_TOKEN_FILE": "{blank}"}, "CAS_WRITE_TOKEN_FILE: "),
    (["cacheserver"], {"CACHE_BYTES": "abc"},
     "CACHE_BYTES must be a byte size like 64MiB or 67108864, got 'abc'"),
    (["cacheserver"], {"CACHE_PEER_TOKEN_FILE": "{blank}"}, "CACHE_PEER_TOKEN_FILE: "),
    (["cacheserver"], {"CACHE_PEER_TOKEN": "a", "CACHE_PEER_TOKEN_FILE": "{blank}"},
     "not both"),
    (["loadclient", "run", "--cache", "http://127.0.0.1:9"], {"ATTACK_FREQ": "abc"},
     "ATTACK_FREQ must be a rate"),
    (["loadclient", "run", "--cache", "http://127.0.0.1:9"], {"CAS_WRITE_TOKEN_FILE": "{blank}"},
     "CAS_WRITE_TOKEN_FILE: "),
    # Huge counts: a granian OverflowError traceback, and a cacheserver worker that spun
    # and ignored SIGTERM.
    (["casserver"], {"CAS_WORKERS": "9" * 20}, f"CAS_WORKERS must be 1-512, got {'9' * 20}"),
    (["cacheserver"], {"CACHE_THREADS": "9" * 20},
     f"CACHE_THREADS must be 1-4096, got {'9' * 20}"),
]  # fmt: skip


@pytest.mark.parametrize(("program", "env", "message"), BAD, ids=[str(b[1]) for b in BAD])
def test_a_bad_setting_is_one_line_and_exit_2(
    program: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    blank = tmp_path / "token"
    blank.write_text(" \n")
    env = {k: v.replace("{blank}", str(blank)) for k, v in env.items()}
    code, stderr = run_to_exit([PYTHON, "-m", *program], env)
    assert code == EXIT_CONFIG
    assert message in one_line(stderr)


@pytest.mark.parametrize("program", ["casserver", "cacheserver"])
def test_sigterm_as_the_worker_boots_stops_the_server(program: str, tmp_path: Path) -> None:
    """SIGTERM to the main process just after it forked its worker: both end, nothing hangs.

    The worker ran the main process's flag-only handler until it installed its own, so
    it ignored granian's stop and granian's main process waited for it forever.
    """
    # Stops at these times after the start land in the worker's boot on this machine
    # (its fork to its own handlers); one start and one stop each.
    for delay_s in (0.1, 0.15, 0.2, 0.25, 0.3):
        port = free_port()
        if program == "casserver":
            argv = casserver_argv(port, tmp_path / "storage")
        else:
            argv = cacheserver_argv(port=port, peer_port=free_port(), origin="http://127.0.0.1:9")
        stop_after(argv, delay_s, within_s=10)


def stop_after(argv: list[str], delay_s: float, within_s: float) -> None:
    """Start argv, SIGTERM it after delay_s; assert it and its process group end within_s."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        time.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=within_s) in (0, -signal.SIGTERM), delay_s
        deadline = time.monotonic() + within_s  # children (the evictor) notice it after
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not group_alive(proc.pid), delay_s
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what a hang left, so nothing outlives
        except ProcessLookupError:
            pass
        proc.wait()


@pytest.mark.timing
def test_sigterm_anywhere_in_the_first_second_ends_casserver_in_seconds(tmp_path: Path) -> None:
    """SIGTERM at points across the first second (workers forking, booting, serving): the
    server, its workers and its evictor all end within a few seconds.

    A stop that reached a worker in its first moments after the fork was lost, and it
    ran until granian's kill timeout (10 s); an evictor whose server ended before it
    had started ran for good.
    """
    for delay_s in (0.0, 0.1, 0.2, 0.35, 0.6, 1.0):
        argv = casserver_argv(free_port(), tmp_path / "storage", "--workers", "2")
        stop_after([*argv, "--max-bytes", "1GiB"], delay_s, within_s=5)
