"""The cache tier as a build tool's endpoint: uploads and action results pass to the origin."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from tests.integration.cacheserver.conftest import CacheCluster
from tests.integration.casserver.conftest import wait_for
from tests.integration.casserver.test_durability import read_reply
from tests.support import LoopbackHTTPServer

Start = Callable[..., CacheCluster]
KEY = hashlib.sha256(b"//app:compile").hexdigest()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def partial_put(url: str, path: str, data: bytes) -> socket.socket:
    """Partial_put announces data on a fresh connection, sends half and keeps it open."""
    s = socket.create_connection(("127.0.0.1", port_of(url)), timeout=10)
    head = f"PUT {path} HTTP/1.1\r\nHost: cache\r\nContent-Length: {len(data)}\r\n\r\n"
    s.sendall(head.encode() + data[: len(data) // 2])
    return s


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_uploads_through_any_member_reach_the_origin(cache_cluster: Start, server: str) -> None:
    cluster = cache_cluster(server=server)
    data = bytes(range(256)) * 8192  # 2 MiB: several chunks on the way through
    digest = hashlib.sha256(data).hexdigest()
    member = cluster.members[1].base_url
    put = requests.put(f"{member}/cas/{digest}", data=data, timeout=30)
    assert put.status_code == 201, put.text
    assert put.json() == {"digest": digest, "size": len(data)}
    again = requests.put(
        f"{member}/cas/{digest}", data=iter([data[:1000], data[1000:]]), timeout=30
    )
    assert again.status_code == 200  # chunked from the client, the origin's "already stored"
    assert requests.get(f"{cluster.origin.base_url}/cas/{digest}", timeout=10).content == data
    assert cluster.get(2, digest).content == data
    wrong = requests.put(f"{member}/cas/{'0' * 64}", data=b"not zeros", timeout=10)
    assert wrong.status_code == 400
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["title"] == "Digest mismatch"  # the origin's own answer
    assert requests.put(f"{member}/cas/nothex", data=b"x", timeout=10).status_code == 400


def test_no_member_serves_a_stale_action_result_after_an_overwrite(cache_cluster: Start) -> None:
    cluster = cache_cluster()
    urls = [f"{u}/ac/{KEY}" for u in cluster.urls]
    assert all(requests.get(u, timeout=10).status_code == 404 for u in urls)
    assert all(requests.head(u, timeout=10).status_code == 404 for u in urls)
    for round_, writer in enumerate([0, 1, 2, 0]):
        value = f"action result {round_}".encode() * (round_ + 1)
        assert requests.put(urls[writer], data=value, timeout=10).status_code == 200
        for u in urls:
            for _ in range(3):  # repeated reads: a cache would answer the second one
                got = requests.get(u, timeout=10)
                assert (got.status_code, got.content) == (200, value)
                assert got.headers["cache-control"] == "no-cache"
        head = requests.head(urls[2], timeout=10)
        assert head.headers["content-length"] == str(len(value))
    # Written behind the tier's back, straight to the origin: still seen at once.
    direct = f"{cluster.origin.base_url}/ac/{KEY}"
    assert requests.put(direct, data=b"direct", timeout=10).status_code == 200
    assert all(requests.get(u, timeout=10).content == b"direct" for u in urls)


def test_the_origins_limits_and_tokens_apply_end_to_end(cache_cluster: Start) -> None:
    origin_env = {"CAS_WRITE_TOKEN": "tier-token", "CAS_MAX_AC_BYTES": "1024"}
    cluster = cache_cluster(n=1, origin_env=origin_env)
    url = f"{cluster.urls[0]}/ac/{KEY}"
    token = {"Authorization": "Bearer tier-token"}
    refused = requests.put(url, data=b"r", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="cas"'
    assert (
        requests.put(url, data=b"r", headers={"Authorization": "Bearer no"}, timeout=10).status_code
        == 401
    )
    assert requests.put(url, data=b"r", headers=token, timeout=10).status_code == 200
    assert requests.put(url, data=b"x" * 1025, headers=token, timeout=10).status_code == 413
    # Bigger than anything the origin reads before it answers 413 and hangs up.
    big = requests.put(url, data=b"x" * (8 << 20), headers=token, timeout=30)
    assert big.status_code == 413
    assert requests.get(url, timeout=10).content == b"r"
    data = b"blob"
    blob = f"{cluster.urls[0]}/cas/{hashlib.sha256(data).hexdigest()}"
    assert requests.put(blob, data=data, timeout=10).status_code == 401
    assert requests.put(blob, data=data, headers=token, timeout=10).status_code == 201


def test_an_upload_streams_to_the_origin_before_the_client_finishes(cache_cluster: Start) -> None:
    arrived = threading.Event()
    seen: list[int] = []

    class Origin(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:  # noqa: N802 - http.server's name
            remaining = int(self.headers["Content-Length"])
            while remaining:
                chunk = self.rfile.read1(min(remaining, 65536))
                if not chunk:
                    return
                remaining -= len(chunk)
                seen.append(len(chunk))
                arrived.set()
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    origin = LoopbackHTTPServer(Origin)
    try:
        cluster = cache_cluster(n=1, origin_url=origin.url)
        data = b"s" * (4 << 20)
        s = partial_put(cluster.urls[0], f"/cas/{hashlib.sha256(data).hexdigest()}", data)
        with s:
            # Half the body is at the member: the origin has bytes before the rest is sent.
            assert arrived.wait(10)
            s.sendall(data[len(data) // 2 :])
            assert read_reply(s).startswith(b"HTTP/1.1 201")
        assert sum(seen) == len(data)
    finally:
        origin.close()


def test_slow_uploads_are_capped_and_never_hold_cache_hits(cache_cluster: Start) -> None:
    cluster = cache_cluster(n=1, threads=4)  # at most 2 forwards at once
    hot = cluster.put(b"hot blob" * 1000)
    assert cluster.get(0, hot).status_code == 200  # now cached
    data = b"u" * (4 << 20)  # granian hands smaller bodies over only once whole
    path = f"/cas/{hashlib.sha256(data).hexdigest()}"
    slow = [partial_put(cluster.urls[0], path, data) for _ in range(2)]
    try:
        in_flight = "cacheserver_forwards_in_flight"
        assert wait_for(lambda: cluster.metric(0, in_flight) == 2)  # both hold their slots
        third = requests.put(cluster.urls[0] + path, data=data, timeout=10)
        assert third.status_code == 503
        assert third.headers["retry-after"] == "1"
        assert third.headers["content-type"] == "application/problem+json"
        for _ in range(20):
            hit = cluster.get(0, hot)
            assert (hit.status_code, hit.headers["x-cache"]) == (200, "hit")
        for s in slow:
            s.sendall(data[len(data) // 2 :])
            assert read_reply(s).split(b" ")[1] in (b"200", b"201")
    finally:
        for s in slow:
            s.close()
    assert requests.put(cluster.urls[0] + path, data=data, timeout=10).status_code == 200
    assert cluster.metric(0, in_flight) == 0


def test_origin_down_is_502_for_uploads_and_action_results(cache_cluster: Start) -> None:
    cluster = cache_cluster(n=1)
    cluster.origin.stop()
    for method in ("PUT", "GET"):
        resp = requests.request(method, f"{cluster.urls[0]}/ac/{KEY}", data=b"r", timeout=10)
        assert resp.status_code == 502
        assert resp.headers["content-type"] == "application/problem+json"


def test_a_client_that_leaves_mid_upload_frees_its_slot_and_stores_nothing(
    cache_cluster: Start,
) -> None:
    cluster = cache_cluster(n=1, threads=4)
    data = b"c" * (4 << 20)
    digest = hashlib.sha256(data).hexdigest()
    in_flight = "cacheserver_forwards_in_flight"
    with partial_put(cluster.urls[0], f"/cas/{digest}", data):
        assert wait_for(lambda: cluster.metric(0, in_flight) == 1)
    assert wait_for(lambda: cluster.metric(0, in_flight) == 0)
    assert requests.head(f"{cluster.origin.base_url}/cas/{digest}", timeout=10).status_code == 404
    for _ in range(4):  # more than the cap: every slot came back
        assert requests.head(f"{cluster.urls[0]}/ac/{KEY}", timeout=10).status_code == 404
    assert wait_for(lambda: cluster.metric(0, in_flight) == 0)  # HEAD bodies closed too
