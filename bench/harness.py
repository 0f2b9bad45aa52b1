"""The plumbing the benchmarks share: work dirs, blobs, nginx and wrk.

Run each benchmark from the repository root as a module, ``.venv/bin/python -m bench.X``;
server processes come from ``procharness``, the harness the tests and scripts use too.
"""

from __future__ import annotations

import hashlib
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from procharness import free_port, running

__all__ = ["free_port", "nginx", "pinned", "put", "running", "tool", "workdir", "wrk", "write_blob"]


NGINX_CONF = """\
daemon off;
master_process {master_process};
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests {keepalive_requests};
    keepalive_timeout {keepalive_timeout_s}s;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location = /healthz {{ return 200; }}
        location /cas/ {{
            etag on;{add_headers}
        }}
    }}
}}
"""


def tool(name: str) -> str:
    """Tool returns the path of an installed program, or exits saying how to install it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        sys.exit(f"{name} is not installed (Debian: apt-get install {name})")
    return path


def pinned(cpu: int | None, argv: Sequence[str]) -> list[str]:
    """Pinned prefixes argv with ``taskset -c cpu`` (nothing when cpu is None)."""
    return list(argv) if cpu is None else [tool("taskset"), "-c", str(cpu), *argv]


@contextmanager
def workdir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """Workdir yields a fresh temporary directory (in parent if given) and removes it after."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    root.chmod(0o755)  # nginx started as root serves files as an unprivileged worker user
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def write_blob(root: Path, data: bytes) -> str:
    """Write_blob stores data where nginx serves it, root/www/cas/<sha256>; returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    (root / "www" / "cas").mkdir(parents=True, exist_ok=True)
    (root / "www" / "cas" / digest).write_bytes(data)
    return digest


def put(origin: str, data: bytes) -> str:
    """Put uploads data to the casserver at origin and returns its sha256 digest."""
    digest = hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{origin}/cas/{digest}", data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"PUT {origin}/cas/{digest}: {resp.status}")
    return digest


@contextmanager
def nginx(
    root: Path,
    *,
    workers: int = 1,
    master_process: bool = False,
    keepalive_requests: int = 1_000_000,
    keepalive_timeout_s: int = 75,
    headers: Mapping[str, str] | None = None,
    binary: str | None = None,
    wrap: Sequence[str] = (),
    cpu: int | None = None,
) -> Iterator[str]:
    """Nginx serves root/www on a free loopback port and yields its base URL."""
    # headers are added to /cas/ responses; nginx's own files go in root/nginx.
    prefix = root / "nginx"
    prefix.mkdir()
    port = free_port()
    headers = headers or {}
    add_headers = "".join(f'\n            add_header {k} "{v}";' for k, v in headers.items())
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            master_process="on" if master_process else "off",
            workers=workers,
            keepalive_requests=keepalive_requests,
            keepalive_timeout_s=keepalive_timeout_s,
            prefix=prefix,
            root=root,
            port=port,
            add_headers=add_headers,
        )
    )
    # wrap prefixes the command, e.g. ("taskset", "-c", "0"); cpu pins it the same way.
    argv = pinned(cpu, [*wrap, binary or tool("nginx"), "-p", str(prefix), "-c", str(conf)])
    base = f"http://127.0.0.1:{port}"
    with running([*argv, "-e", str(prefix / "error.log")], f"{base}/healthz", prefix / "out.log"):
        yield base


@dataclass(frozen=True)
class WrkResult:
    """WrkResult is one wrk run: its rate, its CPU time per request, and its error lines."""

    rps: float
    cpu_us_per_request: float  # user + system time of the wrk process
    errors: str  # wrk's socket-error and Non-2xx lines joined by "; ", or ""


def wrk(
    url: str,
    *,
    threads: int,
    connections: int,
    duration_s: float,
    fail_on_non_2xx: bool = False,
    wrap: Sequence[str] = (),
    cpu: int | None = None,
) -> WrkResult:
    """Wrk runs one load on url (pinned to cpu if given); with fail_on_non_2xx, Non-2xx raise."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [tool("wrk"), f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", url]
    out = subprocess.run(
        pinned(cpu, [*wrap, *argv]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if fail_on_non_2xx and non_2xx is not None:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} error responses")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors = [line.strip() for line in out.splitlines() if "errors" in line or "Non-2xx" in line]
    return WrkResult(
        rps=float(rps.group(1)),
        cpu_us_per_request=cpu_s / max(int(total.group(1)), 1) * 1e6,
        errors="; ".join(errors),
    )
