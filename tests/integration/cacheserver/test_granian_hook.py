"""The hit hook is active in a real granian worker: hits are answered from its callback.

granianhits replaces a private granian function. If granian stops calling it, hits still
succeed (through the WSGI path) and only speed is lost, so nothing else would notice:
CallbackHits in /stats counts the hits the hook answered, and must grow.
"""

from __future__ import annotations

import os

import pytest
import requests

from cascommon.digest import sha256_hex
from tests.conftest import Spawn
from tests.support import BlobOrigin, cacheserver_argv, free_port

HITS = 5


@pytest.mark.parametrize(("server", "hooked"), [("granian", HITS), ("gunicorn", 0)])
def test_hits_through_a_real_worker_are_answered_by_the_hook(
    spawn: Spawn, server: str, hooked: int
) -> None:
    data = os.urandom(25_000)
    digest = sha256_hex(data)
    origin = BlobOrigin({digest: data})
    try:
        port = free_port()
        argv = cacheserver_argv(
            port=port, peer_port=free_port(), origin=origin.url, extra=["--server", server]
        )
        member = spawn(argv, base_url=f"http://127.0.0.1:{port}", name=f"cache-{server}")
        with requests.Session() as http:
            first = http.get(f"{member.base_url}/cas/{digest}", timeout=10)
            assert first.status_code == 200 and first.headers["X-Cache"] == "miss"
            for _ in range(HITS):
                hit = http.get(f"{member.base_url}/cas/{digest}", timeout=10)
                assert hit.content == data and hit.headers["X-Cache"] == "hit"
            stats = http.get(f"{member.base_url}/stats", timeout=10).json()
    finally:
        origin.close()
    assert stats["CacheHits"] == HITS
    assert stats["CallbackHits"] == hooked, member.log_tail()
