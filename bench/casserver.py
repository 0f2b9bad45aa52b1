"""Casserver against nginx: GET 25 KB and 1 MiB with wrk, and 16-way parallel 1 MiB uploads.

Usage: ``flock /tmp/cas-bench.lock .venv/bin/python -m bench.casserver [--rounds 3]``

Protocol: every server (nginx static with one worker as the reference, casserver on
granian, casserver on gunicorn) is pinned to CPU 0 with ``taskset``; the load (``wrk
-t1 -c32 -d4s``, or the upload client) is pinned to CPU 1. The servers run side by
side and are loaded in turn, in interleaved rounds; each figure is the best of the
rounds. Uploads are distinct 1 MiB blobs, each verified against its SHA-256 and
fsynced by casserver before it answers; nginx takes no uploads. Figures depend on the
machine and on whatever else runs on it; the ratios are the numbers to watch.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from bench import harness

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}
SERVER_CPU, LOAD_CPU = 0, 1
UPLOAD_BYTES = 1 << 20


class Uploads:
    """Uploads makes distinct 1 MiB blobs (a counter over random bytes) and PUTs them."""

    def __init__(self) -> None:
        self._base = os.urandom(UPLOAD_BYTES)
        self._next = 0
        self._lock = threading.Lock()

    def blob(self) -> bytes:
        with self._lock:
            self._next += 1
            n = self._next
        return n.to_bytes(8, "big") + self._base[8:]

    def run(self, port: int, parallel: int, count: int) -> float:
        """Run PUTs count blobs over parallel keep-alive connections; returns MB/s."""
        per_thread = count // parallel
        errors: list[str] = []

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for _ in range(per_thread):
                    data = self.blob()
                    conn.request("PUT", f"/cas/{hashlib.sha256(data).hexdigest()}", body=data)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 201:
                        errors.append(f"PUT answered {resp.status}")
                        return
            finally:
                conn.close()

        threads = [threading.Thread(target=worker) for _ in range(parallel)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(errors[0])
        return per_thread * parallel * UPLOAD_BYTES / elapsed / 1e6


def casserver(store: Path, server: str, workers: int) -> tuple[list[str], int]:
    port = harness.free_port()
    argv = [sys.executable, "-m", "casserver", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--storage", str(store), "--workers", str(workers)]
    return harness.pinned(SERVER_CPU, [*argv, "--server", server]), port


def clear_blobs(store: Path, keep: set[str]) -> None:
    """Clear_blobs removes uploaded blobs between upload runs (casserver keeps no index).

    The fan-out directories stay: a running server remembers it made them durable.
    """
    for blob in store.glob("sha*/*/*"):
        if blob.name not in keep:
            blob.unlink()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration-s", type=float, default=4)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="casserver workers (one core)")
    p.add_argument("--uploads", type=int, default=256, help="1 MiB blobs per upload run")
    p.add_argument("--parallel", type=int, default=16, help="concurrent uploads")
    p.add_argument(
        "--store-in",
        type=Path,
        help="directory for casserver's blobs (default: the bench's temp dir); a tmpfs "
        "such as /dev/shm takes the disk's fsyncs out of the upload figure",
    )
    # Quick iterations on the GET path; a figure to report comes from a full run.
    p.add_argument("--no-uploads", action="store_true", help="skip the upload runs")
    p.add_argument("--no-gunicorn", action="store_true", help="run casserver on granian only")
    args = p.parse_args(argv)
    for name in ("wrk", "nginx", "taskset"):
        harness.tool(name)
    os.sched_setaffinity(0, {LOAD_CPU})  # the upload client, and everything it starts
    env = {"LOG_LEVEL": "WARNING"}
    uploads = Uploads()
    with harness.workdir("bench-casserver-") as root, ExitStack() as stack:
        blobs = {label: os.urandom(size) for label, size in SIZES.items()}
        names = {label: harness.write_blob(root, data) for label, data in blobs.items()}
        bases: dict[str, str] = {}
        ports: dict[str, int] = {}
        stores: dict[str, Path] = {}
        servers = ("granian",) if args.no_gunicorn else ("granian", "gunicorn")
        for server in servers:
            stores[server] = (
                stack.enter_context(harness.workdir("bench-cas-store-", parent=args.store_in))
                if args.store_in
                else root / f"cas-{server}"
            )
            cas_argv, port = casserver(stores[server], server, args.workers)
            base = f"http://127.0.0.1:{port}"
            stack.enter_context(
                harness.running(cas_argv, f"{base}/healthz", root / f"{server}.log", env)
            )
            for data in blobs.values():
                harness.put(base, data)
            bases[server], ports[server] = base, port
        bases["nginx"] = stack.enter_context(
            harness.nginx(root, keepalive_requests=1_000_000, cpu=SERVER_CPU)
        )

        def get(base: str, label: str) -> Callable[[], float]:
            url = f"{base}/cas/{names[label]}"
            return lambda: harness.wrk(
                url, threads=1, connections=args.connections, duration_s=args.duration_s,
                fail_on_non_2xx=True, cpu=LOAD_CPU,
            ).rps  # fmt: skip

        def put(server: str) -> Callable[[], float]:
            def run() -> float:
                clear_blobs(stores[server], set(names.values()))
                return uploads.run(ports[server], args.parallel, args.uploads)

            return run

        loads: dict[tuple[str, str], Callable[[], float]] = {}
        for label in SIZES:
            for server in ("nginx", *servers):
                loads[(server, f"GET {label}")] = get(bases[server], label)
        for server in () if args.no_uploads else servers:
            loads[(server, "PUT 1 MiB")] = put(server)
        best: dict[tuple[str, str], float] = {}
        for rnd in range(args.rounds):
            for key, load in loads.items():
                value = load()
                best[key] = max(best.get(key, 0.0), value)
                print(f"round {rnd + 1}: {key[0]:<8} {key[1]:<10} {value:>10.0f}", file=sys.stderr)
    report(best, args)


def report(best: dict[tuple[str, str], float], args: argparse.Namespace) -> None:
    print(
        f"servers on CPU {SERVER_CPU}, load on CPU {LOAD_CPU}; wrk -t1 -c{args.connections} "
        f"-d{args.duration_s:g}s; best of {args.rounds} interleaved rounds; casserver "
        f"{args.workers} worker(s); uploads: {args.parallel} parallel, {args.uploads} x 1 MiB"
        f" stored in {args.store_in or 'the temp dir'}"
    )
    print(f"{'load':<11} {'nginx':>9} {'granian':>9} {'ratio':>6} {'gunicorn':>9} {'ratio':>6}")
    for label in SIZES:
        key = f"GET {label}"
        ref = best[("nginx", key)]
        g, u = best[("granian", key)], best.get(("gunicorn", key), float("nan"))
        print(f"{key:<11} {ref:>9.0f} {g:>9.0f} {g / ref:>6.2f} {u:>9.0f} {u / ref:>6.2f}  req/s")
    if args.no_uploads:
        return
    g, u = best[("granian", "PUT 1 MiB")], best.get(("gunicorn", "PUT 1 MiB"), float("nan"))
    print(
        f"{'PUT 1 MiB':<11} {'-':>9} {g:>9.0f} {'':>6} {u:>9.0f} {'':>6}  MB/s (verified, fsynced)"
    )


if __name__ == "__main__":
    main()
