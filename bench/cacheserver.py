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
import hashlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}
TARGET_RATIO_25K = 0.5

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /cas/ {{
            etag on;
            add_header Cache-Control "public, max-age=31536000, immutable";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def running(argv: Sequence[str], ready_url: str, log: Path) -> Iterator[None]:
    """Running starts a server in its own process group and stops it on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(ready_url, proc)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def wrk(url: str, duration_s: int, connections: int, threads: int) -> dict[str, float]:
    """Wrk runs one load and returns requests/s and MB/s."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rps is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    if errors is not None:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses")
    return {"rps": float(rps.group(1))}


def put(origin: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{origin}/cas/{digest}", data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=10):
        pass
    return digest


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
    blobs = {name: os.urandom(size) for name, size in SIZES.items()}
    (root / "www" / "cas").mkdir(parents=True)
    (root / "tmp").mkdir()
    results: dict[str, Any] = {"sizes": {}, "settings": vars(args)}
    with ExitStack() as stack:
        cas_port, nginx_port = free_port(), free_port()
        origin = f"http://127.0.0.1:{cas_port}"
        stack.enter_context(running(
            [py, "-m", "casserver", "--host", "127.0.0.1", "--port", str(cas_port),
             "--storage", str(root / "cas"), "--workers", "1"],
            f"{origin}/healthz", root / "casserver.log",
        ))  # fmt: skip
        digests = {name: put(origin, data) for name, data in blobs.items()}
        for name, digest in digests.items():
            (root / "www" / "cas" / digest).write_bytes(blobs[name])
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(root=root, port=nginx_port))
        nginx = f"http://127.0.0.1:{nginx_port}"
        stack.enter_context(running(
            [args.nginx, "-c", str(conf), "-p", str(root)],
            f"{nginx}/cas/{digests['25 KB']}", root / "nginx.log",
        ))  # fmt: skip
        urls: dict[str, str] = {"nginx": nginx}
        for server in args.server:
            port = free_port()
            urls[server] = f"http://127.0.0.1:{port}"
            stack.enter_context(running(
                [py, "-m", "cacheserver", "--host", "127.0.0.1", "--port", str(port),
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
                rps = {
                    label: wrk(f"{url}/cas/{digest}", args.duration_s, args.connections, 2)["rps"]
                    for label, url in urls.items()
                }
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
    with tempfile.TemporaryDirectory(prefix="bench-cacheserver-") as tmp:
        results = measure(args, Path(tmp))
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
