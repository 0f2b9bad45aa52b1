"""Eviction with a million blobs: readiness, memory, one pass, and GETs during the pass.

Run: ``.venv/bin/python bench/eviction.py [--blobs 1000000]`` (about 5 GB of disk in the
work directory for a million 1 KiB blobs: a file takes a block). Blobs are written straight
into the storage layout (named by their SHA-256), oldest first. The server runs pinned to
CPU 0 with its evictor (at nice 19) and one worker; wrk runs on CPU 1. It reports the time
to /readyz on a first start (no state besides the blobs) and on a restart, the RSS of all
casserver processes (idle, and at their peak during a pass), the evictor's first walk, one
pass that removes 10% of the store, and 25 KB GETs/s while that pass runs against without.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import harness

SERVER_CPU, LOAD_CPU = 0, 1
GRACE_S = 5.0
BLOB_BYTES = 1024


def fill_range(store: str, start: int, stop: int) -> int:
    """Write blobs start..stop into store's layout; return the bytes written."""
    for i in range(start, stop):
        data = i.to_bytes(8, "big") * (BLOB_BYTES // 8)
        hexdigest = hashlib.sha256(data).hexdigest()
        fd = os.open(f"{store}/sha256/{hexdigest[:2]}/{hexdigest}", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.close(fd)
    return (stop - start) * BLOB_BYTES


def fill(store: Path, blobs: int) -> float:
    """Create blobs in store from four processes; return the seconds it took."""
    started = time.perf_counter()
    for i in range(256):
        (store / "sha256" / f"{i:02x}").mkdir(parents=True, exist_ok=True)
    step = 50_000
    with ProcessPoolExecutor(4) as pool:
        starts = range(0, blobs, step)
        stops = [min(s + step, blobs) for s in starts]
        list(pool.map(fill_range, [str(store)] * len(starts), starts, stops))
    return time.perf_counter() - started


def group_rss(pgid: int, field: str = "VmRSS") -> int:
    """Return the summed field (VmRSS, VmHWM) in bytes of every process in group pgid."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def start(store: Path, work: Path, port: int, name: str) -> tuple[Any, float]:
    argv = [sys.executable, "-m", "casserver", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--storage", str(store), "--workers", "1"]
    env = {"CAS_MAX_BYTES": "1TiB", "CAS_EVICT_GRACE_S": str(GRACE_S), "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    ctx = harness.running(
        harness.pinned(SERVER_CPU, argv), f"http://127.0.0.1:{port}/readyz", work / name, env
    )
    proc = ctx.__enter__()
    return (ctx, proc), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of each wrk run")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the work directory")
    parser.add_argument(
        "--store", type=Path, default=None, help="keep the filled store here (reused if present)"
    )
    a = parser.parse_args()
    out: dict[str, Any] = {"blobs": a.blobs}
    with harness.workdir("cas-evict-bench-", a.dir) as work:
        store = a.store or work / "store"
        if not (store / "sha256").is_dir():
            out["fill_s"] = round(fill(store, a.blobs), 1)
            time.sleep(GRACE_S + 1)  # every filler blob out of the grace
        out.update(measure(store, work, a.duration))
    print(json.dumps(out, indent=2))


def measure(store: Path, work: Path, duration_s: float) -> dict[str, Any]:
    """Start, walk, load, evict 10% under load, restart; return the figures."""
    out: dict[str, Any] = {}
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    (ctx, proc), out["ready_first_start_s"] = start(store, work, port, "first.log")
    try:
        t0 = time.perf_counter()
        while metric(base, "cas_storage_counted_bytes") == 0 and time.perf_counter() - t0 < 900:
            time.sleep(0.2)
        out["evictor_first_walk_s"] = round(time.perf_counter() - t0, 1)
        stored = metric(base, "cas_storage_counted_bytes")
        hot = harness.put(base, os.urandom(25_000))
        url = f"{base}/cas/{hot}"
        out["rss_idle_mib"] = round(group_rss(proc.pid) / 2**20, 1)
        without = harness.wrk(url, threads=1, connections=32, duration_s=duration_s, cpu=LOAD_CPU)
        out["gets_without_pass_rps"] = without.rps
        result: dict[str, Any] = {}

        def evict() -> None:
            argv = [sys.executable, "-m", "casserver", "evict", "--storage", str(store)]
            argv += ["--max-bytes", str(int(stored))]  # down to 90% of what is stored
            done = subprocess.run(argv, capture_output=True, check=True)
            result.update(json.loads(done.stdout))

        runner = threading.Thread(target=evict)
        runner.start()
        during = harness.wrk(url, threads=1, connections=32, duration_s=duration_s, cpu=LOAD_CPU)
        runner.join(900)
        out["gets_during_pass_rps"] = during.rps
        out["gets_during_over_without"] = round(during.rps / without.rps, 2)
        fields = ("duration_s", "files", "evicted_blobs", "bytes_before", "bytes_after")
        out["pass"] = {k: result.get(k) for k in fields}
        out["rss_peak_mib"] = round(group_rss(proc.pid, "VmHWM") / 2**20, 1)
        out["rss_after_pass_mib"] = round(group_rss(proc.pid) / 2**20, 1)
    finally:
        ctx.__exit__(None, None, None)
    (ctx, proc), out["ready_restart_s"] = start(store, work, port, "restart.log")
    ctx.__exit__(None, None, None)
    return out


if __name__ == "__main__":
    main()
