"""The README's main job: the whole stack on loopback, a load test, JSON on stdout."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_main_job_uploads_load_tests_and_prints_vegeta_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stack.py"), "--rate", "100/1s",
         "--duration", "2s", "--run-dir", str(run_dir)],
        capture_output=True, timeout=120, check=False,
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
