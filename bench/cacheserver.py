"""Cached GETs of one cacheserver against nginx, and hit p99 beside a frozen origin.

Usage: ``flock /tmp/cas-bench.lock .venv/bin/python -m bench.cacheserver [--duration-s 4]
[--rounds 3] [--connections 32] [--server granian] [--server gunicorn] [--hung-s 6] [--json]``

One run starts, on free loopback ports: a casserver holding a 25 KB and a 1 MiB blob,
one cacheserver process in front of it (warmed, so every measured GET is a hit from
memory), and one nginx worker serving the same blobs from disk with sendfile. The servers
run on core 0 (taskset), wrk -t1 on core 1; rounds alternate nginx and cacheserver and
the best of the rounds is kept for each. Then the casserver is frozen (SIGSTOP) while
loadclient sends 500 hits/s to the cacheserver and a thread pool 50 misses/s: the hits'
p99 is printed beside the ratio. Figures depend on the machine and on whatever else runs
on it; the ratio cacheserver/nginx is the number to watch (target: >= 0.7 for 25 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import harness

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}
TARGET_RATIO_25K = 0.7
HIT_RATE, MISS_RATE = 500, 50


def warm(url: str, data: bytes) -> None:
    """Warm fetches url until it is a verified cache hit."""
    for _ in range(3):
        with urllib.request.urlopen(url, timeout=10) as resp:
            body, x_cache = resp.read(), resp.headers["X-Cache"]
        if body != data:
            raise RuntimeError(f"{url}: wrong body")
        if x_cache == "hit":
            return
    raise RuntimeError(f"{url}: never a cache hit")


def miss(base: str) -> tuple[int, float]:
    """Miss asks for a never-stored blob; it returns the status (0: no answer) and seconds."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base}/cas/{os.urandom(32).hex()}", timeout=30) as r:
            status = r.status
    except urllib.error.HTTPError as ex:
        status = ex.code
    except OSError:
        status = 0
    return status, time.monotonic() - started


def hung_origin(base: str, blob: Path, seconds: int) -> dict[str, Any]:
    """Hung_origin runs hits (loadclient) and misses (threads) while the origin is frozen."""
    with ThreadPoolExecutor(64) as pool:
        hits = subprocess.Popen(
            [sys.executable, "-m", "loadclient", "run", "--cache", base, "--file", str(blob),
             "--skip-upload", "--rate", f"{HIT_RATE}/1s", "--duration", f"{seconds}s",
             "--connections", "32", "--timeout", "10s", "--max-send-lag", "1s", "--quiet"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        start = time.monotonic()
        futures = []
        for i in range(MISS_RATE * seconds):  # bounded: rate x seconds
            time.sleep(max(0.0, start + i / MISS_RATE - time.monotonic()))
            futures.append(pool.submit(miss, base))
        out, _ = hits.communicate(timeout=seconds + 60)
        misses = [f.result() for f in futures]
    report = json.loads(out)
    return {
        "hit_p99_ms": round(report["latencies"]["99th"] / 1e6, 2),
        "hit_success": report["success"],
        "hit_status_codes": report["status_codes"],
        "miss_statuses": sorted({s for s, _ in misses}),
        "miss_slowest_s": round(max(t for _, t in misses), 2),
    }


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    py = sys.executable
    server_cpu = ("taskset", "-c", "0") if args.pin else ()
    load_cpu = ("taskset", "-c", "1") if args.pin else ()

    def load(url: str) -> float:
        return harness.wrk(
            url, threads=1, connections=args.connections, duration_s=args.duration_s,
            fail_on_non_2xx=True, wrap=load_cpu,
        ).rps  # fmt: skip

    blobs = {name: os.urandom(size) for name, size in SIZES.items()}
    results: dict[str, Any] = {"sizes": {}, "settings": vars(args)}
    with ExitStack() as stack:
        cas_port = harness.free_port()
        origin = f"http://127.0.0.1:{cas_port}"
        casserver = stack.enter_context(harness.running(
            [py, "-m", "casserver", "--host", "127.0.0.1", "--port", str(cas_port),
             "--storage", str(root / "cas"), "--workers", "1"],
            f"{origin}/healthz", root / "casserver.log",
        ))  # fmt: skip
        digests = {name: harness.put(origin, data) for name, data in blobs.items()}
        for data in blobs.values():
            harness.write_blob(root, data)
        immutable = {"Cache-Control": "public, max-age=31536000, immutable"}
        nginx = harness.nginx(root, headers=immutable, binary=args.nginx, wrap=server_cpu)
        urls: dict[str, str] = {"nginx": stack.enter_context(nginx)}
        for server in args.server:
            port = harness.free_port()
            urls[server] = f"http://127.0.0.1:{port}"
            stack.enter_context(harness.running(
                [*server_cpu, py, "-m", "cacheserver", "--host", "127.0.0.1", "--port", str(port),
                 "--peer-port", str(harness.free_port()), "--origin", origin, "--server", server,
                 "--threads", str(args.threads), "--log-level", "WARNING"],
                f"{urls[server]}/healthz", root / f"cacheserver-{server}.log",
                env={"CACHE_ORIGIN_TIMEOUT_S": "2"},
            ))  # fmt: skip
            for name, digest in digests.items():
                warm(f"{urls[server]}/cas/{digest}", blobs[name])
        # Rounds alternate nginx and cacheserver, so load from other programs on the
        # machine hits both alike; the best round of each is kept.
        samples: dict[str, dict[str, list[float]]] = {n: {} for n in digests}
        for _ in range(args.rounds):
            for name, digest in digests.items():
                for label, url in urls.items():
                    samples[name].setdefault(label, []).append(load(f"{url}/cas/{digest}"))
        for name, columns in samples.items():
            best = {label: max(values) for label, values in columns.items()}
            row: dict[str, float] = {k: round(v) for k, v in best.items()}
            for label in args.server:
                row[f"{label}/nginx"] = round(best[label] / best["nginx"], 3)
            results["sizes"][name] = row
        if args.hung_s:
            blob = root / "hot-25k"
            blob.write_bytes(blobs["25 KB"])
            os.killpg(casserver.pid, signal.SIGSTOP)
            try:
                results["hung_origin"] = hung_origin(urls[args.server[0]], blob, args.hung_s)
            finally:
                os.killpg(casserver.pid, signal.SIGCONT)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=int, default=4, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=8, help="cacheserver request threads")
    p.add_argument("--server", action="append", choices=["granian", "gunicorn"])
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--hung-s", type=int, default=6, help="frozen-origin phase (0: skip)")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset pinning")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    args.server = args.server or ["granian"]
    with harness.workdir("bench-cacheserver-") as root:
        results = measure(args, root)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"cached GETs, wrk -t1 -c{args.connections}, best of {args.rounds} rounds"
            f" of {args.duration_s}s (req/s)"
        )
        for name, row in results["sizes"].items():
            cells = "  ".join(f"{k}={v:,}" if "/" not in k else f"{k}={v}" for k, v in row.items())
            print(f"  {name:>6}: {cells}")
    ratio = results["sizes"]["25 KB"].get(f"{args.server[0]}/nginx", 0.0)
    hung = results.get("hung_origin", {})
    print(
        f"25 KB {args.server[0]}/nginx ratio: {ratio} (target >= {TARGET_RATIO_25K}); "
        f"hit p99 with the origin frozen: {hung.get('hit_p99_ms', 'n/a')} ms "
        f"(success {hung.get('hit_success', 'n/a')}, misses {hung.get('miss_statuses', [])} "
        f"within {hung.get('miss_slowest_s', 'n/a')} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
