"""Real server processes for integration tests: free ports, health polling, clean stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

PYTHON = sys.executable


def free_port(host: str = "127.0.0.1") -> int:
    """Free_port asks the kernel for a port that is free on host right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cacheserver_argv(
    *,
    port: int,
    peer_port: int,
    origin: str,
    peers: Sequence[str] = (),
    host: str = "127.0.0.1",
    extra: Sequence[str] = (),
) -> list[str]:
    """Cacheserver_argv is one ring member's command line: client port, peer port, ring.

    peers are the members' peer base URLs (this one's included); empty: a ring of one.
    """
    self_url = f"http://{host}:{peer_port}"
    ring = ["--peers", ",".join(peers), "--self", self_url] if peers else []
    return [
        PYTHON, "-m", "cacheserver", "--host", host, "--port", str(port),
        "--peer-port", str(peer_port), "--origin", origin, *ring, *extra,
    ]  # fmt: skip


class ServerProcess:
    """ServerProcess runs one server in its own process group and logs to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        base_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
    ) -> None:
        self.argv = list(argv)
        self.base_url = base_url
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.health_path = health_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, deadline_s: float = 20.0) -> ServerProcess:
        """Start launches the process and waits until its health route answers 200."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        log.close()
        self.wait_healthy(deadline_s)
        return self

    def wait_healthy(self, deadline_s: float = 20.0) -> None:
        """Wait_healthy polls the health route until it answers 200 or the deadline passes."""
        deadline = time.monotonic() + deadline_s
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{url} not healthy after {deadline_s}s:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        """Signal sends sig to the server's whole process group (master and workers)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop sends SIGTERM, waits, then SIGKILLs; it returns the exit code."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """Kill SIGKILLs the process group and reaps the process."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def rss_bytes(self, field: str = "VmRSS") -> int:
        """Rss_bytes is the largest resident size (or VmHWM: peak) of the group's processes."""
        if self.proc is None:
            return 0
        largest = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != self.proc.pid:  # the process group: server and workers
                    continue
                status = (stat.parent / "status").read_text()
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            for line in status.splitlines():
                if line.startswith(field + ":"):
                    largest = max(largest, int(line.split()[1]) * 1024)
        return largest

    def log_tail(self, lines: int = 40) -> str:
        """Log_tail returns the last lines the server wrote."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class _LoopbackServer(ThreadingHTTPServer):
    request_queue_size = 128  # not 5: a burst of connections must not wait for SYN retries
    daemon_threads = True  # a handler still trickling to a client that gave up never blocks exit


class LoopbackHTTPServer:
    """LoopbackHTTPServer serves a request handler class on a free loopback port from a thread.

    Tests use it for small fake upstreams (slow, lying or trickling origins) that must be
    real HTTP servers but need no process of their own.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = _LoopbackServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Close stops serving and releases the port."""
        self.server.shutdown()
        self.server.server_close()


class BlobOrigin(LoopbackHTTPServer):
    """BlobOrigin is a real HTTP origin serving blobs from a dict, each GET after latency_s.

    It counts the GETs it answered (gets), so a test can tell how many loads reached it.
    """

    def __init__(self, blobs: Mapping[str, bytes], latency_s: float = 0.0) -> None:
        self.gets = 0
        lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle and the
                # client's delayed ACK make every answer wait 40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/healthz":  # the members' background probes: not loads
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with lock:
                    origin.gets += 1
                if latency_s:
                    time.sleep(latency_s)
                data = blobs.get(self.path.rsplit("/", 1)[-1])
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(Handler)
