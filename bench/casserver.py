"""GET throughput of casserver against nginx serving the same files, measured with wrk.

Usage: ``.venv/bin/python bench/casserver.py [--duration-s 5] [--connections 32]``

Both servers run on free loopback ports in the same run, on the same blobs (25 KB and
1 MiB) read from disk, nginx with sendfile on, casserver under gunicorn (gthread) with
sendfile through ``wsgi.file_wrapper``. The figures depend on the machine and whatever
else it is running; the ratio casserver/nginx is the number to watch.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SIZES = {"25 KB": 25_000, "1 MiB": 1 << 20}

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {root}/client_temp;
    proxy_temp_path {root}/proxy_temp;
    fastcgi_temp_path {root}/fastcgi_temp;
    uwsgi_temp_path {root}/uwsgi_temp;
    scgi_temp_path {root}/scgi_temp;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /cas/ {{ etag on; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 20) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def running(argv: Sequence[str], ready_url: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_ready(ready_url, proc)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def put(url: str, data: bytes) -> None:
    req = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status not in (200, 201):
            raise RuntimeError(f"PUT {url}: {r.status}")


def wrk(url: str, duration_s: int, connections: int, threads: int) -> tuple[float, str]:
    """Wrk runs one load and returns requests per second and any error summary."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None:
        raise RuntimeError(out)
    errors = [line.strip() for line in out.splitlines() if "errors" in line or "Non-2xx" in line]
    return float(m.group(1)), "; ".join(errors)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="casserver workers and nginx workers")
    p.add_argument("--threads", type=int, default=None, help="casserver threads per worker")
    args = p.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is not installed (Debian: apt-get install {tool})")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    root = Path(tempfile.mkdtemp(prefix="bench-casserver-"))
    root.chmod(0o755)  # nginx started as root serves files as an unprivileged worker user
    try:
        blobs = {label: os.urandom(size) for label, size in SIZES.items()}
        names = {label: hashlib.sha256(data).hexdigest() for label, data in blobs.items()}
        www = root / "www" / "cas"
        www.mkdir(parents=True)
        for label, data in blobs.items():
            (www / names[label]).write_bytes(data)

        cas_port, nginx_port = free_port(), free_port()
        cas_argv = [
            sys.executable,
            "-m",
            "casserver",
            "--host",
            "127.0.0.1",
            "--port",
            str(cas_port),
        ]
        cas_argv += ["--storage", str(root / "cas-data"), "--workers", str(args.workers)]
        if args.threads:
            cas_argv += ["--threads", str(args.threads)]
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=args.workers, root=root, port=nginx_port))
        env = {**os.environ, "LOG_LEVEL": "WARNING"}
        results: dict[tuple[str, str], tuple[float, str]] = {}
        with running(cas_argv, f"http://127.0.0.1:{cas_port}/healthz", root / "cas.log", env):
            for label, data in blobs.items():
                put(f"http://127.0.0.1:{cas_port}/cas/{names[label]}", data)
            for label in blobs:
                url = f"http://127.0.0.1:{cas_port}/cas/{names[label]}"
                results[("casserver", label)] = wrk(
                    url, args.duration_s, args.connections, args.wrk_threads
                )
        nginx_argv = [nginx, "-p", str(root), "-c", str(conf), "-e", str(root / "nginx-error.log")]
        probe = f"http://127.0.0.1:{nginx_port}/cas/{names['25 KB']}"
        with running(nginx_argv, probe, root / "nginx.log", env):
            for label in blobs:
                url = f"http://127.0.0.1:{nginx_port}/cas/{names[label]}"
                results[("nginx", label)] = wrk(
                    url, args.duration_s, args.connections, args.wrk_threads
                )

        print(
            f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration_s}s, "
            f"{args.workers} workers each, {os.cpu_count()} CPUs"
        )
        print(f"{'blob':<7} {'server':<10} {'req/s':>10} {'MB/s':>9} {'vs nginx':>9}")
        for label, size in SIZES.items():
            base = results[("nginx", label)][0]
            for server in ("casserver", "nginx"):
                rps, errors = results[(server, label)]
                ratio = f"{rps / base:.2f}" if base else "-"
                line = f"{label:<7} {server:<10} {rps:>10.0f} {rps * size / 1e6:>9.1f} {ratio:>9}"
                print(line + (f"  ({errors})" if errors else ""))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
