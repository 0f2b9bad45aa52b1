"""scripts/run, the README's main job: the whole stack on loopback, a load test, JSON on stdout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import child_groups, group_alive

ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_main_job_uploads_load_tests_and_prints_vegeta_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # Hedges off in the members (they inherit this environment): one origin load is exact
    # only without them. When the load client's member does not own the blob, an owner slow
    # past the 0.3 s hedge delay on a loaded machine has it load from casserver as well.
    env = {**os.environ, "CACHE_HEDGE_MAX_DELAY_S": "0"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), "--rate", "100/1s",
         "--duration", "2s", "--run-dir", str(run_dir)],
        capture_output=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout)
    assert report["requests"] == 200
    assert report["success"] == 1.0
    assert report["status_codes"] == {"200": 200}
    assert report["integrity"]["ok"] == 200
    assert sum(report["cache"][k] for k in ("hit", "peer", "miss")) == 200
    assert (run_dir / "report.html").stat().st_size > 0

    # Three ring members answered, and the blob was loaded from casserver exactly once.
    stats = [json.loads((run_dir / f"cacheserver{i}-stats.json").read_text()) for i in (1, 2, 3)]
    assert sum(s["LocalLoads"] for s in stats) == 1
    assert sum(s["CacheHits"] for s in stats) >= 198

    # Every server was stopped: nothing listens on the ports the logs name.
    ports = [
        int(line.rsplit(":", 1)[1].split("/")[0])
        for line in done.stderr.decode().splitlines()
        if line.startswith("stack: ") and " is up at " in line
    ]
    assert len(ports) == 4
    assert not any(listening(p) for p in ports)
    for log in ("casserver", "cacheserver1", "cacheserver2", "cacheserver3"):
        lines = (run_dir / f"{log}.log").read_text().splitlines()
        assert lines and all(json.loads(line) for line in lines if line.strip())


@pytest.mark.timing
@pytest.mark.parametrize("after", ["casserver is up", "cacheserver2 is up", "loadclient run"])
def test_ctrl_c_at_any_moment_stops_every_server_without_a_traceback(
    tmp_path: Path, after: str
) -> None:
    err = tmp_path / "err"
    with open(err, "wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "stack.py"), "--run-dir", str(tmp_path / "run"),
             "--duration", "30s"],
            stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while after not in err.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, err.read_text()
            time.sleep(0.02)
        if after == "loadclient run":
            # Python's own start-up (site) cannot catch a KeyboardInterrupt: start once
            # loadclient's modules are loading, which its __main__ guards.
            wait_for_child_mapping(proc.pid, b"loadclient", "httptools", deadline)
        started = child_groups(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
        began = time.monotonic()
        code = proc.wait(30)
        took_s = time.monotonic() - began
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = err.read_text()
    assert "Traceback" not in text, text
    assert took_s < 8, text  # a server still starting is killed after 2 s, not 10
    assert code in (1, 130), text  # interrupted: stack's 130, or loadclient's partial run
    assert started and not any(group_alive(pid) for pid in started)


def wait_for_child_mapping(ppid: int, name: bytes, library: str, deadline: float) -> None:
    """Wait until ppid's child named name has library mapped (it is importing our code)."""
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if name not in cmdline.read_bytes():
                    continue
                stat = (cmdline.parent / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) != ppid:
                    continue
                if library in (cmdline.parent / "maps").read_text():
                    return
            except (OSError, ValueError):
                continue
        time.sleep(0.01)
    raise TimeoutError(f"no {name!r} child of {ppid} with {library} loaded")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--caches", "0"], "--caches: needs at least 1, got 0"),
        (["--rate", "abc"], "--rate: rate: invalid rate 'abc'"),
        (["--duration", "ten"], "--duration: duration: invalid duration 'ten'"),
    ],
)
def test_a_bad_option_is_one_line_before_any_server_starts(
    tmp_path: Path, argv: list[str], says: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), "--run-dir", str(tmp_path / "run"),
         *argv],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert "HTML report" not in done.stderr
