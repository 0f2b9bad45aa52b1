"""The peer listener over real loopback sockets, in-process, in front of in-process groups."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from cacheserver.peerserver import PeerServer
from cacheserver.upstream import ORIGIN_ERROR_HEADER
from tests.support import free_port
from tests.unit.cacheserver.fakes import Cluster

TOKEN = "s3cret-token"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


@pytest.fixture
def server(cluster: Cluster) -> Iterator[PeerServer]:
    srv = PeerServer(
        cluster.groups[cluster.urls[0]], host="127.0.0.1", port=free_port(), token=TOKEN,
        header_timeout_s=0.5, idle_timeout_s=1.0, max_waiters=4,
    )  # fmt: skip
    srv.start()
    yield srv
    srv.stop()


def url(server: PeerServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_serves_raw_bytes_from_the_origin_then_the_cache(
    cluster: Cluster, server: PeerServer
) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    with requests.Session() as s:
        for _ in range(2):
            resp = s.get(url(server, f"/_groupcache/cas/{digest}"), headers=AUTH, timeout=5)
            assert resp.status_code == 200 and resp.content == data
            assert resp.headers["Content-Type"] == "application/octet-stream"
    assert cluster.origin.fetches == 1
    assert cluster.groups[cluster.urls[0]].stats()["ServerRequests"] == 2


def test_without_the_token_is_403_and_loads_nothing(cluster: Cluster, server: PeerServer) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        resp = requests.get(url(server, f"/_groupcache/cas/{digest}"), headers=headers, timeout=5)
        assert resp.status_code == 403
        assert resp.headers["Content-Type"] == "application/problem+json"
    assert cluster.origin.fetches == 0


def test_only_the_peer_protocol_is_served(server: PeerServer) -> None:
    assert requests.get(url(server, "/cas/" + "a" * 64), headers=AUTH, timeout=5).status_code == 404
    assert (
        requests.get(url(server, "/_groupcache/cas/nothex"), headers=AUTH, timeout=5).status_code
        == 400
    )
    resp = requests.put(url(server, "/_groupcache/cas/" + "a" * 64), headers=AUTH, timeout=5)
    assert resp.status_code == 405


def test_origin_failures_are_marked_as_the_origins(cluster: Cluster, server: PeerServer) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    cluster.origin.down = True
    resp = requests.get(url(server, f"/_groupcache/cas/{digest}"), headers=AUTH, timeout=5)
    assert resp.status_code == 502 and resp.headers[ORIGIN_ERROR_HEADER] == "1"
    cluster.origin.down = False
    missing = requests.get(url(server, "/_groupcache/cas/" + "0" * 64), headers=AUTH, timeout=5)
    assert missing.status_code == 404


def closed_within(sock: socket.socket, limit_s: float) -> float:
    """Closed_within returns how long the server took to close sock (reads until EOF)."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_idle_and_slow_connections_are_closed(server: PeerServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        assert closed_within(idle, 5) < 3
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(b"GET /_groupcache/cas/")  # never finishes its headers
        assert closed_within(slow, 5) < 3


def pipelined(cluster: Cluster, server: PeerServer, second_auth: bool) -> bytes:
    """Pipelined sends a miss and a second request in one write; it returns all that came back."""
    [(digest, _)] = cluster.owned_by(cluster.urls[0])  # a miss: answered from the pool
    cluster.origin.delay_s = 0.2
    good = f"GET /_groupcache/cas/{digest} HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    second = good if second_auth else f"GET /_groupcache/cas/{digest} HTTP/1.1\r\n\r\n"
    received = b""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall((good + second).encode())
        s.settimeout(5)
        while chunk := s.recv(65536):  # until the server closes
            received += chunk
    return received


def test_pipelined_requests_are_refused_not_interleaved(
    cluster: Cluster, server: PeerServer
) -> None:
    received = pipelined(cluster, server, second_auth=True)
    assert received.count(b"HTTP/1.1 ") <= 1, received[:200]


def test_a_pipelined_offence_is_dropped_not_answered_over_the_first(
    cluster: Cluster, server: PeerServer
) -> None:
    received = pipelined(cluster, server, second_auth=False)  # the second has no token
    assert b"403" not in received and received.count(b"HTTP/1.1 ") <= 1, received[:200]
