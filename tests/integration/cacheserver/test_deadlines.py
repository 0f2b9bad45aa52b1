"""Upstreams that answer slowly: fills end within their budget and free their slots."""

from __future__ import annotations

import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from tests.integration.cacheserver.conftest import CacheCluster
from tests.support import LoopbackHTTPServer

Start = Callable[..., CacheCluster]


class TricklingOrigin(LoopbackHTTPServer):
    """TricklingOrigin is a real HTTP origin that sends every body one byte at a time."""

    def __init__(self, size: int, interval_s: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                try:
                    for _ in range(size):  # bounded: size x interval_s at most
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(interval_s)
                except OSError:
                    pass  # the cacheserver gave up

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(Handler)


@pytest.mark.timing
def test_a_trickling_origin_fill_ends_at_the_total_timeout(cache_cluster: Start) -> None:
    # 1 byte per 0.5 s: every read is within the 1 s read timeout, the 100-byte body
    # would take 50 s; the fill must end at the 2 s total and free its slot.
    origin = TricklingOrigin(size=100, interval_s=0.5)
    try:
        env = {"CACHE_ORIGIN_TIMEOUT_S": "1", "CACHE_FETCH_TOTAL_TIMEOUT_S": "2"}
        cluster = cache_cluster(n=1, origin_url=origin.url, env=env)
        started = time.monotonic()
        resp = cluster.get(0, "ab" * 32)
        elapsed = time.monotonic() - started
        assert resp.status_code == 504, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert elapsed < 4, elapsed
        deadline = time.monotonic() + 3
        while cluster.metric(0, "cacheserver_fills_in_flight") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.metric(0, "cacheserver_fills_in_flight") == 0
        assert cluster.stats(0)["LocalLoadErrs"] == 1
    finally:
        origin.close()
