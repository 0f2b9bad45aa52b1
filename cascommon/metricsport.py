"""A listener of its own for /metrics, so a NetworkPolicy can let only Prometheus reach it.

NetworkPolicies act on ports, not paths: while /metrics shares the client port, whoever
may upload may also scrape. Both servers start one of these from the process that owns
the samples (casserver's main process, cacheserver's serving process) on a thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from cascommon.problem import PROBLEM_JSON, problem_body

log = logging.getLogger(__name__)

# Scrapers are few; a connection past these waits in the backlog, never holding a thread.
MAX_SCRAPES: Final = 4
# A scrape's connection is cut after this long, however it trickles.
TIMEOUT_S: Final = 10.0
PATH: Final = "/metrics"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = TIMEOUT_S  # HTTP/1.0: one scrape per connection, so none idles on a slot

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, PROBLEM_JSON, problem_body(404, "Not Found", "only /metrics here"))
            return
        self._answer(200, CONTENT_TYPE_LATEST, generate_latest(self.server.registry))

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        """Log_message is quiet: Prometheus scrapes every few seconds."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a scrape in progress never delays the process's exit

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.registry = registry
        self.slots = threading.BoundedSemaphore(MAX_SCRAPES)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Accepting waits for a free slot, so at most MAX_SCRAPES handler threads exist.
        if not self.slots.acquire(timeout=TIMEOUT_S):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # The read timeout is per read: a client trickling a byte at a time would keep
        # its slot for ever without this bound on the whole connection.
        deadline = threading.Timer(TIMEOUT_S, _cut, args=(request,))
        deadline.start()
        try:
            super().process_request_thread(request, client_address)
        finally:
            deadline.cancel()
            self.slots.release()


def _cut(request: socket.socket) -> None:
    try:
        request.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class MetricsPort:
    """MetricsPort serves registry at /metrics on host:port from a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server = _Server((host, port), registry)  # binds now: a taken port fails at start
        self.port = int(self._server.server_address[1])
        # A forked worker must not hold the listening socket: after the main process is
        # gone, connections would queue on it with nobody to accept them.
        os.register_at_fork(after_in_child=self._server.socket.close)

    def start(self) -> MetricsPort:
        """Start serves on a daemon thread and returns self."""
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics listener started", extra={"port": self.port, "path": PATH})
        return self

    def close(self) -> None:
        """Close stops serving and releases the port."""
        self._server.shutdown()
        self._server.server_close()
