"""GET throughput of casserver against nginx serving the same files, measured with wrk.

Usage: ``.venv/bin/python bench/casserver.py [--duration-s 5] [--connections 32]``

Both servers run on free loopback ports in the same run, on the same blobs (25 KB and
1 MiB) read from disk, nginx with sendfile on, casserver under gunicorn (gthread) with
sendfile through ``wsgi.file_wrapper``. The figures depend on the machine and whatever
else it is running; the ratio casserver/nginx is the number to watch.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import harness

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="casserver workers and nginx workers")
    p.add_argument("--threads", type=int, default=None, help="casserver threads per worker")
    args = p.parse_args(argv)
    for tool in ("wrk", "nginx"):
        harness.tool(tool)  # exits now if missing, not after the casserver runs
    with harness.workdir("bench-casserver-") as root:
        blobs = {label: os.urandom(size) for label, size in SIZES.items()}
        names = {label: harness.write_blob(root, data) for label, data in blobs.items()}
        cas_port = harness.free_port()
        cas = f"http://127.0.0.1:{cas_port}"
        cas_argv = [sys.executable, "-m", "casserver", "--host", "127.0.0.1"]
        cas_argv += ["--port", str(cas_port), "--storage", str(root / "cas-data")]
        cas_argv += ["--workers", str(args.workers)]
        if args.threads:
            cas_argv += ["--threads", str(args.threads)]
        env = {"LOG_LEVEL": "WARNING"}

        def load(url: str) -> harness.WrkResult:
            return harness.wrk(
                url,
                threads=args.wrk_threads,
                connections=args.connections,
                duration_s=args.duration_s,
            )

        results: dict[tuple[str, str], harness.WrkResult] = {}
        with harness.running(cas_argv, f"{cas}/healthz", root / "cas.log", env):
            for data in blobs.values():
                harness.put(cas, data)
            for label in blobs:
                results[("casserver", label)] = load(f"{cas}/cas/{names[label]}")
        nginx = harness.nginx(
            root, workers=args.workers, master_process=True, keepalive_requests=100_000
        )
        with nginx as ngx:
            for label in blobs:
                results[("nginx", label)] = load(f"{ngx}/cas/{names[label]}")

        print(
            f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration_s}s, "
            f"{args.workers} workers each, {os.cpu_count()} CPUs"
        )
        print(f"{'blob':<7} {'server':<10} {'req/s':>10} {'MB/s':>9} {'vs nginx':>9}")
        for label, size in SIZES.items():
            base = results[("nginx", label)].rps
            for server in ("casserver", "nginx"):
                rps, errors = results[(server, label)].rps, results[(server, label)].errors
                ratio = f"{rps / base:.2f}" if base else "-"
                line = f"{label:<7} {server:<10} {rps:>10.0f} {rps * size / 1e6:>9.1f} {ratio:>9}"
                print(line + (f"  ({errors})" if errors else ""))


if __name__ == "__main__":
    main()
