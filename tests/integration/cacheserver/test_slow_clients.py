"""Idle, slowloris and non-reading clients: hits still answer, and the server closes them."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from tests.integration.cacheserver.conftest import CacheCluster

Start = Callable[..., CacheCluster]
IDLE = 2000
SLOW = 200
IDLE_TIMEOUT_S = 6.0
HEADER_TIMEOUT_S = 3.0
READERS = 32
MIB = 1 << 20


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def open_many(url: str, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(address(url), timeout=5)
        socks.append(s)
    return socks


def trickle(socks: list[socket.socket], stop: threading.Event, started: float) -> None:
    """Trickle sends one header line per socket every half second; a request never ends."""
    for s in socks:
        s.sendall(b"GET /cas/" + b"a" * 64 + b" HTTP/1.1\r\nHost: x\r\n")
    while not stop.wait(0.5) and time.monotonic() - started < 60:  # bounded
        for s in socks:
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass  # closed by the server, as it should be


def closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.5)
    try:
        while s.recv(65536):
            pass  # a 408 or similar before the close is fine
        return True
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True  # reset


@pytest.mark.timing
def test_idle_and_slowloris_connections_neither_slow_hits_nor_stay(cache_cluster: Start) -> None:
    env = {
        "CACHE_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
        "CACHE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    }
    cluster = cache_cluster(n=1, env=env)
    data = os.urandom(25_000)
    digest = cluster.put(data)
    session = requests.Session()
    url = f"{cluster.urls[0]}/cas/{digest}"
    assert session.get(url, timeout=5).content == data  # cached from here on

    big = cluster.put(os.urandom(MIB))
    assert session.get(f"{cluster.urls[0]}/cas/{big}", timeout=5).status_code == 200

    client, peer = cluster.urls[0], cluster.peer_urls[0]
    started = time.monotonic()
    # Readers that ask for a cached 1 MiB blob and never read it: more than the threads.
    readers = open_many(client, READERS)
    for s in readers:
        s.sendall(f"GET /cas/{big} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    idle = open_many(client, IDLE - 200) + open_many(peer, 200)
    slow = open_many(client, SLOW // 2) + open_many(peer, SLOW // 2)
    opened = time.monotonic()
    stop = threading.Event()
    feeder = threading.Thread(target=trickle, args=(slow, stop, started), daemon=True)
    feeder.start()
    try:
        worst = 0.0
        for i in range(100):
            t = time.monotonic()
            # Every other hit on a fresh connection: the idle ones must not fill the accept queue.
            resp = session.get(url, timeout=5) if i % 2 else requests.get(url, timeout=5)
            worst = max(worst, time.monotonic() - t)
            assert resp.status_code == 200 and resp.content == data
            assert resp.headers["X-Cache"] == "hit"
        assert worst < 0.1, (
            f"a hit took {worst * 1000:.0f} ms beside {IDLE} idle, {SLOW} slow, {READERS} stalled"
        )
        # The server ends them: idle ones after the idle timeout, slow ones after the
        # header timeout on the peer port (granian: its one timer, the idle timeout).
        time.sleep(max(0.0, opened + IDLE_TIMEOUT_S + 2 - time.monotonic()))
        sample = idle[:: len(idle) // 50] + slow[:: len(slow) // 20]
        still_open = [s.getpeername() for s in sample if not closed_by_server(s)]
        assert not still_open, f"{still_open} of {len(sample)} still open (peer port {peer})"
        assert session.get(url, timeout=5).status_code == 200
    finally:
        stop.set()
        feeder.join(5)
        for s in idle + slow + readers:
            s.close()
        session.close()
