"""Upstream and Peer over real loopback sockets: error mapping, reuse, backoff."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cacheserver.errors import (
    Busy,
    NotFound,
    OriginTimedOut,
    TooLarge,
    Unavailable,
    UpstreamTimeout,
)
from cacheserver.lengths import Oversize
from cacheserver.peers import Peer
from cacheserver.upstream import Upstream

TRICKLE_BYTES = 40
TRICKLE_INTERVAL_S = 0.1  # 4 s for the whole body, each byte well within a read timeout


class Origin(ThreadingHTTPServer):
    """Origin answers /ok with a body, /missing with 404, anything else with 500."""

    def __init__(self) -> None:
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        self.connections += 1
        return super().get_request()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/trickle":
            self._trickle(TRICKLE_BYTES, TRICKLE_INTERVAL_S)
            return
        if self.path.startswith("/unsized/"):  # the body ends with the connection
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"u" * int(self.path.rsplit("/", 1)[1]))
            return
        if self.path == "/busy":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/origin-failed":  # as a member relays its origin's failure
            self.send_response(504)
            self.send_header("X-Cache-Origin-Error", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = {"/ok": (200, b"hello"), "/missing": (404, b"")}.get(
            self.path, (500, b"boom")
        )
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, size: int, interval_s: float) -> None:
        """_trickle sends one body byte per interval: each read is quick, the body is not."""
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for _ in range(size):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(interval_s)
        except OSError:
            pass  # the client gave up, as it should

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: Origin) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_statuses_map_to_errors_and_connections_are_reused(origin: Origin) -> None:
    upstream = Upstream(url(origin), timeout_s=2)
    assert upstream.get("/ok") == b"hello"
    assert upstream.get("/ok") == b"hello"
    with pytest.raises(NotFound):
        upstream.get("/missing")
    with pytest.raises(Unavailable):
        upstream.get("/other")
    assert origin.connections == 1
    upstream.close()


@pytest.mark.timing
def test_refused_connection_is_unavailable_not_a_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        upstream = Upstream(f"http://127.0.0.1:{port}", timeout_s=5)
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            upstream.get("/x")
        assert not isinstance(info.value, UpstreamTimeout)
        assert time.monotonic() - started < 1


@pytest.mark.timing
def test_silent_server_is_a_timeout_within_bound() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # accepts (by the kernel) but never answers
        upstream = Upstream(f"http://127.0.0.1:{s.getsockname()[1]}", timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            upstream.get("/x")
        assert time.monotonic() - started < 2


@pytest.mark.timing
def test_a_trickling_body_ends_at_the_total_timeout_and_frees_the_connection(
    origin: Origin,
) -> None:
    upstream = Upstream(url(origin), timeout_s=1, total_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        upstream.get("/trickle")
    assert time.monotonic() - started < 1.2  # the total, not 40 bytes x 0.1 s
    assert upstream.get("/ok") == b"hello"  # on a new connection: the old one was mid-body
    assert origin.connections == 2
    upstream.close()


def test_a_body_within_the_total_timeout_is_read_whole(origin: Origin) -> None:
    upstream = Upstream(url(origin), timeout_s=1, total_timeout_s=10)
    assert upstream.get("/trickle") == b"x" * TRICKLE_BYTES
    upstream.close()


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        Upstream("ftp://x", timeout_s=1)


def test_peer_backoff_doubles_up_to_the_limit_and_resets() -> None:
    now = [100.0]
    peer = Peer(Upstream("http://p:1", timeout_s=1), max_backoff_s=1.0, clock=lambda: now[0])
    assert peer.available()
    assert [peer.failed() for _ in range(4)] == [0.25, 0.5, 1.0, 1.0]
    assert not peer.available()
    now[0] += 1.0
    assert peer.available()
    peer.failed()
    peer.succeeded()
    assert peer.available()
    assert peer.failed() == 0.25


def test_a_timeout_backs_off_only_a_peer_that_answered_nothing_for_a_wait() -> None:
    now = [100.0]
    peer = Peer(Upstream("http://p:1", timeout_s=2), max_backoff_s=1.0, clock=lambda: now[0])
    assert peer.timed_out() == 0.25  # never answered
    peer.succeeded()
    now[0] += 1.5
    assert peer.timed_out() == 0.0 and peer.available()  # answered 1.5 s ago: busy
    now[0] += 1.0
    assert peer.timed_out() == 0.25  # nothing for longer than a wait


def test_bodies_are_bounded_with_or_without_a_length(origin: Origin) -> None:
    upstream = Upstream(url(origin), timeout_s=2, max_blob_bytes=100)
    assert upstream.get("/ok") == b"hello"
    assert upstream.get("/unsized/100") == b"u" * 100
    # Over the item limit: streamed later, and what the probe saw is kept to check it by.
    assert upstream.get("/unsized/60", limit=50) == Oversize(url(origin), None, 50)
    assert upstream.get("/ok", limit=4) == Oversize(url(origin), 5, 4)
    with pytest.raises(TooLarge):
        list(upstream.open("/unsized/101"))
    sized = Upstream(url(origin), timeout_s=2, max_blob_bytes=4)
    with pytest.raises(TooLarge):
        sized.open("/ok")  # refused on its Content-Length, before any body
    upstream.close()
    sized.close()


def test_a_relayed_origin_failure_is_an_answer_not_a_peer_failure(origin: Origin) -> None:
    peer = Peer(Upstream(url(origin), timeout_s=2), max_backoff_s=1.0)
    with pytest.raises(OriginTimedOut):
        peer._tracked(lambda: peer._upstream.get("/origin-failed"))
    assert peer.available()
    with pytest.raises(Busy):
        peer._tracked(lambda: peer._upstream.get("/busy"))
    assert peer.available()
    with pytest.raises(Unavailable):
        peer._tracked(lambda: peer._upstream.get("/other"))  # its own 500
    assert not peer.available()
    peer.close()
