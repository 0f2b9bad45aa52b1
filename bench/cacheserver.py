"""Cached GET throughput of one cacheserver process against nginx, measured with wrk.

Usage: ``.venv/bin/python bench/cacheserver.py [--duration-s 3] [--rounds 3] [--connections 32]
[--server granian] [--server gunicorn] [--json]``

One run starts, on free loopback ports: a casserver holding a 25 KB and a 1 MiB blob,
one cacheserver process in front of it (warmed, so every measured GET is a hit from
memory), and one nginx worker serving the same blobs from disk with sendfile. wrk then
loads each in turn, in alternating rounds. Figures depend on the machine and on whatever
else runs on it; the ratio cacheserver/nginx is the number to watch (target: >= 0.5 for
25 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import harness

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}
TARGET_RATIO_25K = 0.5


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


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    py = sys.executable

    def load(url: str) -> float:
        return harness.wrk(
            url, threads=2, connections=args.connections, duration_s=args.duration_s,
            fail_on_non_2xx=True,
        ).rps  # fmt: skip

    blobs = {name: os.urandom(size) for name, size in SIZES.items()}
    results: dict[str, Any] = {"sizes": {}, "settings": vars(args)}
    with ExitStack() as stack:
        cas_port = harness.free_port()
        origin = f"http://127.0.0.1:{cas_port}"
        stack.enter_context(harness.running(
            [py, "-m", "casserver", "--host", "127.0.0.1", "--port", str(cas_port),
             "--storage", str(root / "cas"), "--workers", "1"],
            f"{origin}/healthz", root / "casserver.log",
        ))  # fmt: skip
        digests = {name: harness.put(origin, data) for name, data in blobs.items()}
        for data in blobs.values():
            harness.write_blob(root, data)
        immutable = {"Cache-Control": "public, max-age=31536000, immutable"}
        nginx = harness.nginx(root, headers=immutable, binary=args.nginx)
        urls: dict[str, str] = {"nginx": stack.enter_context(nginx)}
        for server in args.server:
            port = harness.free_port()
            urls[server] = f"http://127.0.0.1:{port}"
            stack.enter_context(harness.running(
                [py, "-m", "cacheserver", "--host", "127.0.0.1", "--port", str(port),
                 "--peer-port", str(harness.free_port()),
                 "--origin", origin, "--server", server, "--threads", str(args.threads),
                 "--log-level", "WARNING"],
                f"{urls[server]}/healthz", root / f"cacheserver-{server}.log",
            ))  # fmt: skip
            for name, digest in digests.items():
                warm(f"{urls[server]}/cas/{digest}", blobs[name])
        # Rounds alternate nginx and cacheserver, so load from other programs on the
        # machine hits both alike; the medians of the per-round figures are reported.
        samples: dict[str, dict[str, list[float]]] = {n: {} for n in digests}
        for _ in range(args.rounds):
            for name, digest in digests.items():
                rps = {label: load(f"{url}/cas/{digest}") for label, url in urls.items()}
                for label, value in rps.items():
                    samples[name].setdefault(label, []).append(value)
                    if label != "nginx":
                        ratio = value / rps["nginx"]
                        samples[name].setdefault(f"{label}/nginx", []).append(ratio)
        for name, columns in samples.items():
            results["sizes"][name] = {
                label: round(statistics.median(values), 3) for label, values in columns.items()
            }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=int, default=3, help="seconds per wrk run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians reported")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=8, help="cacheserver request threads")
    p.add_argument("--server", action="append", choices=["granian", "gunicorn"])
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    args.server = args.server or ["granian"]
    with harness.workdir("bench-cacheserver-") as root:
        results = measure(args, root)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"cached GETs, {args.connections} connections, median of {args.rounds} rounds"
            f" of {args.duration_s}s (req/s)"
        )
        for name, row in results["sizes"].items():
            cells = "  ".join(
                f"{k}={v:,.0f}" if isinstance(v, float) and "/" not in k else f"{k}={v}"
                for k, v in row.items()
            )
            print(f"  {name:>6}: {cells}")
    ratio = results["sizes"]["25 KB"].get(f"{args.server[0]}/nginx", 0.0)
    print(f"25 KB {args.server[0]}/nginx ratio: {ratio} (target >= {TARGET_RATIO_25K})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
