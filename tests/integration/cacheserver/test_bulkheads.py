"""Bulkheads: waiters for one fill share one place; trickling uploads hold only write places."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests

from tests.integration.cacheserver.conftest import CacheCluster

Start = Callable[..., CacheCluster]
WAITERS = 16


def test_sixteen_waiters_for_one_cold_key_are_one_origin_load_and_no_503(
    cache_cluster: Start,
) -> None:
    cluster = cache_cluster(n=1)
    for method in ("HEAD", "GET"):
        digest = cluster.put(os.urandom(25_000))
        before = cluster.origin_gets()
        barrier = threading.Barrier(WAITERS)

        def ask(
            _: int, method: str = method, digest: str = digest, barrier: threading.Barrier = barrier
        ) -> int:
            barrier.wait(10)
            url = f"{cluster.urls[0]}/cas/{digest}"
            return requests.request(method, url, timeout=10).status_code

        with ThreadPoolExecutor(WAITERS) as pool:
            statuses = list(pool.map(ask, range(WAITERS)))
        assert statuses == [200] * WAITERS, (method, statuses)
        assert cluster.origin_gets(at_least=before + 1) - before == 1, method


def _trickle_upload(url: str, stop: threading.Event) -> None:
    """_trickle_upload sends a PUT whose body comes at one byte per second, until stop."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    body = os.urandom(64)
    digest = hashlib.sha256(body).hexdigest()
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
        s.sendall(
            f"PUT /cas/{digest} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for i in range(len(body)):
            if stop.wait(1.0):
                return
            try:
                s.sendall(body[i : i + 1])
            except OSError:
                return  # cut by the server: fine


def test_trickling_uploads_never_block_action_cache_reads_or_blob_gets(
    cache_cluster: Start,
) -> None:
    cluster = cache_cluster(n=1)
    digest = cluster.put(os.urandom(25_000))
    url = cluster.urls[0]
    stop = threading.Event()
    for uploads in (4, 6):
        threads = [
            threading.Thread(target=_trickle_upload, args=(url, stop)) for _ in range(uploads)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # every upload holds its place now
            ac = "a" * 64
            for _ in range(10):
                # /ac/ reads have their own bulkhead: a 404 (no such entry) is an answer.
                assert requests.get(f"{url}/ac/{ac}", timeout=5).status_code == 404
                assert requests.head(f"{url}/ac/{ac}", timeout=5).status_code == 404
                assert requests.get(f"{url}/cas/{digest}", timeout=5).status_code == 200
                fresh = cluster.put(os.urandom(1000))  # a miss: it needs the origin
                assert requests.get(f"{url}/cas/{fresh}", timeout=5).status_code == 200
        finally:
            stop.set()
            for t in threads:
                t.join(10)
            stop.clear()
