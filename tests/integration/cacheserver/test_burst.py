"""A burst of distinct cold keys: members wait for busy owners instead of loading twice."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.cacheserver.conftest import CacheCluster
from tests.support import BlobOrigin

Start = Callable[..., CacheCluster]
# The owner's origin answers after 2.5 s, longer than the 2 s peer timeout the other
# members have (MEMBER_ENV); the origin timeout is at its default of 5 s.
LATENCY_S = 2.5
# Hedges off: an owner slow because its origin is slow is what hedges would race (within
# their budget, docs/faults.md); this test counts exactly one origin load per key.
BURST_ENV = {
    "CACHE_ORIGIN_TIMEOUT_S": "5",
    "CACHE_FILL_THREADS": "16",
    "CACHE_HEDGE_MAX_DELAY_S": "0",
}


@pytest.mark.timing
def test_a_burst_of_cold_keys_is_one_origin_load_each_and_no_peer_errors(
    cache_cluster: Start,
) -> None:
    keys = 60
    blobs = {hashlib.sha256(d).hexdigest(): d for d in (os.urandom(10_000) for _ in range(keys))}
    origin = BlobOrigin(blobs, latency_s=LATENCY_S)
    try:
        # More request threads than requests a member gets in the burst (20 clients and
        # the others' peer requests): with fewer, all can wait on other members (Config).
        cluster = cache_cluster(origin_url=origin.url, threads=64, env=BURST_ENV)

        def fetch(item: tuple[int, str]) -> tuple[int, bool]:
            i, digest = item
            resp = requests.get(f"{cluster.urls[i % 3]}/cas/{digest}", timeout=30)
            return resp.status_code, resp.content == blobs[digest]

        started = time.monotonic()
        with ThreadPoolExecutor(keys) as pool:
            results = list(pool.map(fetch, enumerate(blobs)))
        elapsed = time.monotonic() - started
        stats = [cluster.stats(i) for i in range(3)]
        summary = {n: [s[n] for s in stats] for n in ("PeerErrors", "LocalLoads", "PeerLoads")}
        assert results == [(200, True)] * keys, summary
        assert summary["PeerErrors"] == [0, 0, 0], summary
        assert sum(summary["LocalLoads"]) == keys and origin.gets == keys, summary
        assert elapsed < 30, elapsed
    finally:
        origin.close()
