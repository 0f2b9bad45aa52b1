"""Real servers for integration tests: the process harness and small loopback upstreams.

The process harness itself (free_port, ServerProcess, cacheserver_argv, PYTHON) lives in
``procharness``, shared with bench/ and scripts/; it is re-exported here for the tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from casserver.workspace import LOCK_SUFFIX
from procharness import (
    PYTHON,
    ServerProcess,
    cacheserver_argv,
    child_groups,
    free_port,
    group_members,
)

__all__ = [
    "PYTHON", "BlobOrigin", "LoopbackHTTPServer", "QuietHandler", "ServerProcess",
    "cacheserver_argv", "child_groups", "free_port", "is_lock",
]  # fmt: skip


def is_lock(path: Path) -> bool:
    """Tell a casserver upload workspace's lock file (tmp/<owner>.lock) from data."""
    return path.parent.name == "tmp" and path.name.endswith(LOCK_SUFFIX)


class _LoopbackServer(ThreadingHTTPServer):
    request_queue_size = 128  # not 5: a burst of connections must not wait for SYN retries
    daemon_threads = True  # a handler still trickling to a client that gave up never blocks exit


class QuietHandler(BaseHTTPRequestHandler):
    """QuietHandler is the base of the fake upstreams' handlers: HTTP/1.1, no delay, no log."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the
        # client's delayed ACK make every answer wait 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_body(self, data: bytes, status: int = 200) -> None:
        """Send a whole answer: status, Content-Length and data."""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


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

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/healthz":  # the members' background probes: not loads
                    self.send_body(b"")
                    return
                with lock:
                    origin.gets += 1
                if latency_s:
                    time.sleep(latency_s)
                data = blobs.get(self.path.rsplit("/", 1)[-1])
                if data is None:
                    self.send_error(404)
                    return
                self.send_body(data)

        super().__init__(Handler)


def group_alive(pgid: int) -> bool:
    """Say whether any process of group pgid still runs (a zombie has ended: it awaits a reap)."""
    return bool(group_members(pgid))
