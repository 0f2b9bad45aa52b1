"""RSS stays within the idle process plus 1.5x CACHE_BYTES under a fill of many distinct blobs."""

from __future__ import annotations

import hashlib
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import Spawn
from tests.integration.cacheserver.conftest import MEMBER_ENV
from tests.support import BlobOrigin, cacheserver_argv, free_port

MIB = 1 << 20
CACHE_BYTES = 64 * MIB
SMALL, LARGE = 20_000, 500
BOUND = 1.5


def blobs(count: int, low: int, high: int, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for _ in range(count):
        data = rng.randbytes(rng.randint(low, high))
        out[hashlib.sha256(data).hexdigest()] = data
    return out


@pytest.mark.timeout(300)  # 20,500 distinct misses through a Python origin: about a minute
def test_rss_stays_within_the_cache_budget_under_many_distinct_fills(spawn: Spawn) -> None:
    small, large = blobs(SMALL, 1000, 4000, 1), blobs(LARGE, 200_000, 200_000, 2)
    origin = BlobOrigin({**small, **large})
    try:
        port = free_port()
        argv = cacheserver_argv(
            port=port, peer_port=free_port(), origin=origin.url,
            extra=["--cache-bytes", str(CACHE_BYTES)],
        )  # fmt: skip
        member = spawn(argv, base_url=f"http://127.0.0.1:{port}", env=MEMBER_ENV, name="member")
        url = member.base_url
        assert requests.get(f"{url}/cas/{next(iter(small))}", timeout=5).status_code == 200
        idle = member.rss_bytes()
        sessions = [requests.Session() for _ in range(4)]

        def fetch(item: tuple[int, tuple[str, bytes]]) -> bool:
            i, (digest, data) = item
            resp = sessions[i % 4].get(f"{url}/cas/{digest}", timeout=30)
            return resp.status_code == 200 and resp.content == data

        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(fetch, enumerate(small.items())))
            after_small = member.rss_bytes()
            assert all(pool.map(fetch, enumerate(large.items())))
        final, peak = member.rss_bytes(), member.rss_bytes("VmHWM")
        stats = requests.get(f"{url}/stats", timeout=5).json()
        held = stats["main"]["bytes"] + stats["hot"]["bytes"]
        factor = (peak - idle) / CACHE_BYTES
        print(f"idle {idle / MIB:.1f} MiB, after small {after_small / MIB:.1f}, final "
              f"{final / MIB:.1f}, peak {peak / MIB:.1f}; caches hold {held / MIB:.1f} MiB; "
              f"peak - idle = {factor:.2f}x CACHE_BYTES")  # fmt: skip
        assert peak - idle <= BOUND * CACHE_BYTES, f"{factor:.2f}x CACHE_BYTES"
        for s in sessions:
            s.close()
    finally:
        origin.close()
