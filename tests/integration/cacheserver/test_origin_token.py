"""CACHE_ORIGIN_TOKEN: a ring in front of a casserver whose reads need CAS_READ_TOKEN."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import requests

from tests.integration.cacheserver.conftest import CacheCluster

Start = Callable[..., CacheCluster]
READ = "origin-read-token"
WRITE = "origin-write-token"
ORIGIN_ENV = {"CAS_READ_TOKEN": READ, "CAS_WRITE_TOKEN": WRITE}
# Past the default item limit (64 MiB / 16), so it streams from the origin uncached.
STREAMED = 5 << 20


def test_members_fetch_misses_with_the_origin_token_and_ask_clients_for_none(
    cache_cluster: Start,
) -> None:
    cluster = cache_cluster(n=3, origin_env=ORIGIN_ENV, env={"CACHE_ORIGIN_TOKEN": READ})
    cluster.session.headers["Authorization"] = f"Bearer {WRITE}"
    blobs = [os.urandom(1000 + i) for i in range(6)] + [os.urandom(STREAMED)]
    digests = [cluster.put(b) for b in blobs]
    for i, (data, digest) in enumerate(zip(blobs, digests, strict=True)):
        # No Authorization from the client: the tier's client side is open.
        resp = cluster.get(i % 3, digest)
        assert resp.status_code == 200, resp.text
        assert resp.content == data
    assert (
        requests.get(f"{cluster.origin.base_url}/cas/{digests[0]}", timeout=10).status_code == 401
    )

    # Forwarded routes still carry the client's own header, not the origin token.
    member = cluster.members[1].base_url
    data = b"forwarded upload"
    blob = f"{member}/cas/{hashlib.sha256(data).hexdigest()}"
    action = f"{member}/ac/{hashlib.sha256(b'action').hexdigest()}"
    write = {"Authorization": f"Bearer {WRITE}"}
    assert requests.put(blob, data=data, timeout=10).status_code == 401
    assert requests.put(blob, data=data, headers=write, timeout=10).status_code == 201
    assert requests.put(action, data=b"result", headers=write, timeout=10).status_code == 200
    assert requests.get(action, timeout=10).status_code == 401
    assert requests.get(action, headers=write, timeout=10).content == b"result"

    for m in cluster.members:
        m.stop()
        assert READ not in m.log_path.read_text()


def test_without_the_origin_token_misses_are_bad_gateway(cache_cluster: Start) -> None:
    cluster = cache_cluster(n=2, origin_env=ORIGIN_ENV)
    cluster.session.headers["Authorization"] = f"Bearer {WRITE}"
    for data in (b"small blob", os.urandom(STREAMED)):
        digest = cluster.put(data)
        for i in range(2):
            assert cluster.get(i, digest).status_code == 502
