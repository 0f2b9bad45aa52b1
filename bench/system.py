"""The whole system against nginx: our three-member tier vs three nginx proxy_caches.

Both sit in front of the same casserver; each nginx has its own cache as large as a member's
CACHE_BYTES (what users would deploy instead). Measured in one go, printed side by side as
ratios (ours / nginx) and written to JSON:

- cached 25 KB GETs at a fixed rate through one front end (loadclient): throughput, p99;
- origin loads when 100 clients ask for one cold key at once, spread over the front ends;
- hit ratio and origin loads for a Zipf workload over more keys than one member holds but
  fewer than the tier does (loadclient's ``--keys --distribution zipf --shard``);
- cached GETs while casserver is frozen (SIGSTOP).

Run from the repository root: ``flock /tmp/cas-bench.lock .venv/bin/python -m bench.system``.
The machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

from bench import harness, zipfload
from tests.faults.loadrun import LoadRun
from tests.tier import Tier, origin_gets, running

ROOT = Path(__file__).resolve().parent.parent
FROZEN_MISSES = 5

PROXY_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    proxy_temp_path {prefix}/proxy;
    client_body_temp_path {prefix}/client_body;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    proxy_cache_path {prefix}/cache keys_zone=cas:10m max_size={cache_bytes} inactive=1d;
    upstream origin {{ server {origin}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ return 200; }}
        location /cas/ {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache cas;
            proxy_cache_valid 200 1d;
            proxy_cache_lock on;            # one fill per key per instance, as users set it
            proxy_cache_lock_timeout 30s;
            proxy_read_timeout 5s;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


@contextmanager
def proxy_cache(root: Path, origin: str, cache_bytes: int) -> Iterator[str]:
    """Proxy_cache runs one nginx proxy_cache instance in front of origin; yields its URL."""
    root.mkdir(parents=True)
    port = harness.free_port()
    conf = root / "nginx.conf"
    conf.write_text(
        PROXY_CONF.format(
            prefix=root, port=port, origin=origin.removeprefix("http://"), cache_bytes=cache_bytes
        )
    )
    base = f"http://127.0.0.1:{port}"
    argv = [harness.tool("nginx"), "-p", str(root), "-c", str(conf), "-e", str(root / "err.log")]
    with harness.running(argv, f"{base}/healthz", root / "out.log"):
        yield base


def cached_gets(
    front: str, origin: str, work: Path, name: str, a: argparse.Namespace, rate: int
) -> Any:
    """Cached_gets: loadclient GETs one cached 25 KB blob through front (rate 0: closed)."""
    args = ["--cas", origin, "--cache", front, "--size", "25000", "--rate", f"{rate}/1s"]
    args += ["--duration", f"{a.duration}s", "--hit-ratio", "1.0", "--seed", "7"]
    args += ["--timeout", "5s", "--connections", "32"]
    run = LoadRun(args, work / f"{name}.json", work / f"{name}.log")
    return run.wait(a.duration + 120).to_json()


def stampede(fronts: list[str], origin: str, clients: int = 100) -> dict[str, int]:
    """Stampede: clients GET one cold key at once, spread over the front ends."""
    digest = harness.put(origin, os.urandom(25_000))
    before = origin_gets(origin)
    barrier = threading.Barrier(clients)

    def one(i: int) -> int:
        barrier.wait(30)
        return requests.get(f"{fronts[i % len(fronts)]}/cas/{digest}", timeout=30).status_code

    with ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(one, range(clients)))
    return {"origin_loads": origin_gets(origin) - before, "ok": codes.count(200)}


def frozen(front: str, tier: Tier, work: Path, name: str, a: argparse.Namespace) -> Any:
    """Frozen: cached GETs through front while casserver is SIGSTOPped."""
    blob = work / "frozen.blob"
    if not blob.exists():
        blob.write_bytes(os.urandom(25_000))
        harness.put(tier.origin_url, blob.read_bytes())
    requests.get(
        f"{front}/cas/{hashlib.sha256(blob.read_bytes()).hexdigest()}", timeout=10
    ).raise_for_status()
    run = LoadRun(
        ["--cas", tier.origin_url, "--cache", front, "--file", str(blob), "--skip-upload",
         "--rate", "100/1s", "--duration", f"{a.freeze}s", "--timeout", "5s"],
        work / f"{name}.json", work / f"{name}.log",
    )  # fmt: skip
    # Stored and cached already, so nothing needs the origin before the freeze.
    fresh = [harness.put(tier.origin_url, os.urandom(25_000)) for _ in range(FROZEN_MISSES)]
    threading.Timer(0.5, tier.origin.signal, args=(signal.SIGSTOP,)).start()
    try:
        time.sleep(1.0)
        with ThreadPoolExecutor(FROZEN_MISSES) as pool:
            misses = list(pool.map(lambda d: timed_get(f"{front}/cas/{d}"), fresh))
        result: dict[str, Any] = run.wait(a.freeze + 120).to_json()
    finally:
        tier.origin.signal(signal.SIGCONT)
    result["misses"] = [{"status": code, "seconds": round(t, 2)} for code, t in misses]
    return result


def timed_get(url: str) -> tuple[int, float]:
    """Timed_get is one GET's status (0 when no answer within 30 s) and how long it took."""
    start = time.monotonic()
    try:
        code = requests.get(url, timeout=30).status_code
    except requests.RequestException:
        code = 0
    return code, time.monotonic() - start


def measure(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {"CACHE_BYTES": str(a.cache_bytes), "LOG_LEVEL": "WARNING"}
    with running(Tier(work / "tier", member_env=env)) as tier, ExitStack() as stack:
        nginxes = [
            stack.enter_context(proxy_cache(work / f"nginx{i}", tier.origin_url, a.cache_bytes))
            for i in range(3)
        ]
        out: dict[str, Any] = {"ours": {}, "nginx": {}}
        for side, fronts in (("ours", tier.urls), ("nginx", nginxes)):
            print(f"system: {side} ...", file=sys.stderr, flush=True)
            origin = tier.origin_url
            out[side]["cached_get"] = cached_gets(fronts[0], origin, work, side, a, a.rate)
            out[side]["cached_get_max"] = cached_gets(fronts[0], origin, work, f"{side}-max", a, 0)
            out[side]["stampede"] = stampede(fronts, tier.origin_url)
            out[side]["zipf"] = zipfload.run(fronts, tier.origin_url, a, work, side)
            out[side]["frozen_origin"] = frozen(fronts[0], tier, work, f"{side}-frozen", a)
        return out


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "n/a"


def slowest(side: dict[str, Any]) -> float:
    return float(max(m["seconds"] for m in side["frozen_origin"]["misses"]))


def print_table(out: dict[str, Any]) -> None:
    o, n = out["ours"], out["nginx"]
    rows = [
        ("cached GET ok /s", o["cached_get"]["throughput"], n["cached_get"]["throughput"]),
        ("cached GET p99 ms", o["cached_get"]["p99_s"] * 1e3, n["cached_get"]["p99_s"] * 1e3),
        ("cached GET failed", o["cached_get"]["failed"], n["cached_get"]["failed"]),
        ("cached GET max /s (closed)", o["cached_get_max"]["throughput"],
         n["cached_get_max"]["throughput"]),
        ("cold key x100: origin loads", o["stampede"]["origin_loads"],
         n["stampede"]["origin_loads"]),
        ("zipf hit ratio", o["zipf"]["hit_ratio"], n["zipf"]["hit_ratio"]),
        ("zipf origin loads", o["zipf"]["origin_loads"], n["zipf"]["origin_loads"]),
        ("frozen origin: hits failed", o["frozen_origin"]["failed"],
         n["frozen_origin"]["failed"]),
        ("frozen origin: p99 ms", o["frozen_origin"]["p99_s"] * 1e3,
         n["frozen_origin"]["p99_s"] * 1e3),
        ("frozen origin: slowest miss s", slowest(o), slowest(n)),
    ]  # fmt: skip
    print(f"{'figure':<30} {'ours':>12} {'nginx':>12} {'ours/nginx':>11}")
    for label, ours, theirs in rows:
        print(f"{label:<30} {ours:>12.4g} {theirs:>12.4g} {ratio(ours, theirs):>11}")
    print(f"Zipf workload driven by {o['zipf']['driver']}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=1000, help="cached GETs per second")
    p.add_argument("--duration", type=int, default=10, help="seconds of cached GETs")
    p.add_argument("--cache-bytes", type=int, default=16 << 20, help="per member and per nginx")
    p.add_argument("--keys", type=int, default=800, help="Zipf keys")
    p.add_argument("--zipf-size", type=int, default=50_000, help="Zipf blob bytes")
    p.add_argument("--zipf-s", type=float, default=0.8, help="Zipf exponent")
    p.add_argument("--zipf-requests", type=int, default=4000)
    p.add_argument("--zipf-rate", type=int, default=400, help="Zipf requests/s (loadclient)")
    p.add_argument("--freeze", type=int, default=5, help="seconds of GETs with casserver frozen")
    p.add_argument("--output", type=Path, default=ROOT / "run" / "bench-system.json")
    a = p.parse_args()
    working_set = a.keys * a.zipf_size
    print(f"system: Zipf working set {working_set >> 20} MiB; one cache {a.cache_bytes >> 20} "
          f"MiB, the tier {3 * a.cache_bytes >> 20} MiB", file=sys.stderr)  # fmt: skip
    with harness.workdir("cas-system-") as work:
        out = measure(a, work)
    for side in ("ours", "nginx"):
        for run in ("cached_get", "cached_get_max"):
            cg = out[side][run]
            cg["throughput"] = (cg["requests"] - cg["failed"]) / a.duration
    out["settings"] = {k: str(v) for k, v in vars(a).items()}
    print_table(out)
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"system: figures in {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
