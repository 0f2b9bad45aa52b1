"""Idle, slow and greedy clients cost bounded, timed-out slots, never the service."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS, Reply, files, raw_http, wait_for
from tests.support import ServerProcess

IDLE = 2000
SLOWLORIS = 200
TRICKLERS = 32
GETS = 50
GET_BOUND_S = 1.0
# Descriptors the test process needs: every hostile socket, the GETs, and room to spare.
NOFILE = IDLE + SLOWLORIS + TRICKLERS + 1024


def raise_nofile(wanted: int) -> None:
    """Raise_nofile lifts this process's descriptor limit (servers it starts inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(True)
    return s


def upload_head(digest: str, length: int, extra: str = "") -> bytes:
    head = f"PUT /cas/{digest} HTTP/1.1\r\nHost: cas\r\nContent-Length: {length}\r\n"
    return (head + extra + "\r\n").encode()


def read_head(s: socket.socket, timeout_s: float) -> bytes:
    """Read_head reads until the end of a response's headers, EOF or the timeout."""
    s.settimeout(timeout_s)
    got = b""
    try:
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got


class Trickler:
    """Trickler sends one byte to each of its sockets every period_s, until stopped."""

    def __init__(self, sockets: list[socket.socket], period_s: float, deadline_s: float) -> None:
        self.sockets = sockets
        self._period_s = period_s
        self._deadline = time.monotonic() + deadline_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        live = list(self.sockets)
        while live and not self._stop.wait(self._period_s) and time.monotonic() < self._deadline:
            for s in list(live):
                try:
                    s.send(b"x")
                except OSError:  # the server cut it: exactly what should happen
                    live.remove(s)


@pytest.fixture
def sockets() -> Iterator[Callable[[socket.socket], socket.socket]]:
    """Sockets closes every socket the test registers, however it ends."""
    with ExitStack() as stack:
        yield lambda s: stack.enter_context(s)


@pytest.mark.timing
def test_idle_slowloris_and_trickling_uploads_cost_no_get_its_second(
    casserver: Callable[..., ServerProcess],
    tmp_path: Path,
    sockets: Callable[[socket.socket], socket.socket],
) -> None:
    raise_nofile(NOFILE)
    storage = tmp_path / "store"
    env = {
        "CAS_HEADER_TIMEOUT_S": "2",
        "CAS_BODY_MIN_RATE_BPS": "1024",
        "CAS_BODY_GRACE_S": "2",
        "LOG_LEVEL": "WARNING",
    }
    server = casserver(storage=storage, env=env)
    port = int(server.base_url.rsplit(":", 1)[1])
    blob = os.urandom(25_000)
    digest = hashlib.sha256(blob).hexdigest()
    url = f"{server.base_url}/cas/{digest}"
    assert requests.put(url, data=blob, timeout=10).status_code == 201

    for _ in range(IDLE):
        sockets(connect(port))
    slowloris = [sockets(connect(port)) for _ in range(SLOWLORIS)]
    for s in slowloris:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: cas\r\nX-Slow: ")
    uploads: dict[str, socket.socket] = {}
    for i in range(TRICKLERS):
        name = hashlib.sha256(b"trickle %d" % i).hexdigest()
        uploads[name] = sockets(connect(port))
        uploads[name].sendall(upload_head(name, 1000))

    slowest = 0.0
    with Trickler(slowloris + list(uploads.values()), period_s=0.5, deadline_s=30):
        with requests.Session() as session:
            for i in range(GETS):
                started = time.monotonic()
                got = session.get(url, timeout=10, headers={"Connection": "close"} if i % 2 else {})
                slowest = max(slowest, time.monotonic() - started)
                assert (got.status_code, got.content) == (200, blob)
                time.sleep(0.04)  # spread the GETs over the uploads' grace period
        cut = {name: read_head(s, timeout_s=15) for name, s in uploads.items()}
    assert slowest < GET_BOUND_S, f"a GET took {slowest:.2f} s"
    assert all(head.startswith(b"HTTP/1.1 408 ") for head in cut.values()), cut
    assert wait_for(lambda: not any(f.startswith("tmp/") for f in files(storage)))
    stored = {f.rsplit("/", 1)[-1] for f in files(storage)}
    assert stored == {digest}, "a cut upload left something behind"
    closed = [read_head(s, timeout_s=5) for s in slowloris]  # by the header timeout
    assert all(head == b"" or head.startswith(b"HTTP/1.1 408 ") for head in closed), closed[:3]

    assert requests.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    again = b"after the storm"
    again_url = f"{server.base_url}/cas/{hashlib.sha256(again).hexdigest()}"
    assert requests.put(again_url, data=again, timeout=5).status_code == 201
    assert requests.get(again_url, timeout=5).content == again


@pytest.mark.parametrize("http_server", SERVERS)
def test_uploads_past_the_cap_get_503_with_retry_after(
    casserver: Callable[..., ServerProcess],
    tmp_path: Path,
    http_server: str,
    sockets: Callable[[socket.socket], socket.socket],
) -> None:
    storage = tmp_path / "store"
    env = {"CAS_MAX_UPLOADS": "2", "CAS_BODY_TIMEOUT_S": "30"}
    server = casserver(storage=storage, workers=1, env=env, server=http_server)
    port = int(server.base_url.rsplit(":", 1)[1])
    busy = []
    for i in range(2):
        name = hashlib.sha256(b"held %d" % i).hexdigest()
        s = sockets(connect(port))
        s.sendall(upload_head(name, 100_000) + b"x" * 10)
        busy.append(s)
    assert wait_for(lambda: len([f for f in files(storage) if f.startswith("tmp/")]) == 2)
    data = b"one too many"
    reply: Reply = raw_http(
        port,
        upload_head(hashlib.sha256(data).hexdigest(), len(data), "Connection: close\r\n") + data,
    )
    assert reply.status == 503, reply
    assert reply.headers["retry-after"] == "1"
    assert reply.headers["content-type"] == "application/problem+json"
    assert json.loads(reply.body)["title"] == "Too many uploads"
    for s in busy:
        s.close()
    url = f"{server.base_url}/cas/{hashlib.sha256(data).hexdigest()}"
    assert wait_for(lambda: requests.put(url, data=data, timeout=5).status_code == 201)


def test_an_oversized_upload_is_refused_before_100_continue(
    casserver: Callable[..., ServerProcess], sockets: Callable[[socket.socket], socket.socket]
) -> None:
    server = casserver(env={"CAS_MAX_BLOB_BYTES": "1000"})
    port = int(server.base_url.rsplit(":", 1)[1])
    s = sockets(connect(port))
    s.sendall(upload_head("a" * 64, 1001, "Expect: 100-continue\r\n"))
    head = read_head(s, timeout_s=5)
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"application/problem+json" in head


def test_an_upload_slower_than_the_minimum_rate_is_cut_with_408(
    casserver: Callable[..., ServerProcess],
    tmp_path: Path,
    sockets: Callable[[socket.socket], socket.socket],
) -> None:
    storage = tmp_path / "store"
    env = {"CAS_BODY_MIN_RATE_BPS": "1000", "CAS_BODY_GRACE_S": "0.5"}
    server = casserver(storage=storage, env=env)
    port = int(server.base_url.rsplit(":", 1)[1])
    s = sockets(connect(port))
    s.sendall(upload_head("b" * 64, 10_000) + b"x" * 100)  # 100 bytes, then nothing
    head = read_head(s, timeout_s=10)
    assert head.startswith(b"HTTP/1.1 408 "), head
    assert b"application/problem+json" in head
    assert wait_for(lambda: files(storage) == set())
