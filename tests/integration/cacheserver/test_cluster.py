"""Three real cacheservers and a real casserver: one origin load, failures, recovery."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cascommon.digest import sha256_hex
from tests.integration.cacheserver.conftest import CacheCluster
from tests.support import LoopbackHTTPServer, QuietHandler

Start = Callable[..., CacheCluster]
NO_HEDGES = {"CACHE_HEDGE_MAX_DELAY_S": "0"}


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_cold_key_from_sixty_clients_is_one_origin_load(cache_cluster: Start, server: str) -> None:
    # Hedges off: one origin load is exact only without them. On a loaded machine the owner
    # can answer 60 at once after the 0.3 s hedge delay, and a member would then race it
    # to the origin (within the hedge budget; unit/cacheserver/test_isolation.py has them).
    cluster = cache_cluster(server=server, env=NO_HEDGES)
    data = os.urandom(200_000)
    digest = cluster.put(data)
    origin_before = cluster.origin_gets()

    def fetch(i: int) -> tuple[int, bytes, str]:
        resp = cluster.get(i % 3, digest)
        return resp.status_code, resp.content, resp.headers.get("X-Cache", "")

    with ThreadPoolExecutor(60) as pool:
        first = list(pool.map(fetch, range(60)))
    assert [(s, b) for s, b, _ in first] == [(200, data)] * 60
    assert cluster.total("LocalLoads") == 1
    assert cluster.origin_gets() - origin_before == 1
    assert {x for _, _, x in first} <= {"hit", "peer", "miss"}

    with ThreadPoolExecutor(60) as pool:
        second = list(pool.map(fetch, range(60)))
    assert [(s, b, x) for s, b, x in second] == [(200, data, "hit")] * 60
    assert cluster.total("LocalLoads") == 1
    assert cluster.total("PeerErrors") == 0 and cluster.total("VerifyErrors") == 0
    owner = cluster.owner(digest)
    assert cluster.stats(owner)["ServerRequests"] >= 1
    assert all(cluster.stats(i)["PeerLoads"] == (0 if i == owner else 1) for i in range(3))


def test_headers_ranges_not_found_and_bad_keys(cache_cluster: Start) -> None:
    cluster = cache_cluster(n=1)
    data = os.urandom(5000)
    digest = cluster.put(data)
    resp = cluster.get(0, digest)
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["ETag"] == f'"{digest}"'
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["Content-Type"] == "application/octet-stream"
    for _ in range(2):  # a miss and a hit
        head = requests.head(f"{cluster.urls[0]}/cas/{digest}", timeout=5)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == str(len(data))
    part = cluster.get(0, digest, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert cluster.get(0, digest, headers={"If-None-Match": f'"{digest}"'}).status_code == 304
    missing = cluster.get(0, "0" * 64)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    before = cluster.origin_gets()
    for key in ("nothex", "A" * 64, "0" * 63):
        assert cluster.get(0, key).status_code == 400
    assert cluster.origin_gets() == before
    peer = cluster.session.get(f"{cluster.peer_urls[0]}/_groupcache/cas/{digest}", timeout=5)
    assert peer.status_code == 200 and peer.content == data
    # The client port does not serve the peer protocol, and the peer port serves nothing else.
    assert cluster.get(0, digest).status_code == 200
    client = cluster.session.get(f"{cluster.urls[0]}/_groupcache/cas/{digest}", timeout=5)
    assert client.status_code == 404
    other = cluster.session.get(f"{cluster.peer_urls[0]}/cas/{digest}", timeout=5)
    assert other.status_code == 404
    assert other.headers["Content-Type"] == "application/problem+json"
    metrics = cluster.session.get(f"{cluster.urls[0]}/metrics", timeout=5).text
    assert "cacheserver_local_loads_total 1.0" in metrics


def test_killed_member_is_routed_around_and_rejoins(cache_cluster: Start) -> None:
    # Hedges off: the rejoined member's first answer comes after a cold origin load, and a
    # hedge to the origin that wins it would make the last answer a miss though it served.
    cluster = cache_cluster(env=NO_HEDGES)
    victim = 2
    blobs = {cluster.put(d): d for d in (os.urandom(10_000) for _ in range(9))}
    # Nine random keys miss the victim now and then ((2/3)^9): add keys it owns.
    while sum(cluster.owner(d) == victim for d in blobs) < 2:
        data = os.urandom(10_000)
        blobs[cluster.put(data)] = data
    cluster.members[victim].signal(signal.SIGKILL)
    cluster.members[victim].proc.wait(10)  # type: ignore[union-attr]
    for digest, data in blobs.items():
        for i in (0, 1):
            resp = cluster.get(i, digest)
            assert resp.status_code == 200 and resp.content == data
    # Found out by a request (a peer error) or first by a background probe: either way
    # its keys went to the next member on the ring.
    routed = [cluster.stats(i)[n] for i in (0, 1) for n in ("PeerErrors", "FallbackLoads")]
    assert sum(routed) >= 1, [cluster.stats(i) for i in (0, 1)]

    cluster.restart(victim)
    # Each try is a fresh key the restarted member owns: one loaded from the origin while it
    # was still backed off stays a hit here, so asking it again would prove nothing. And
    # X-Cache: peer alone proves nothing either: while the member is still backed off, its
    # keys go to the next member on the ring, also a peer. It has rejoined when it serves.
    deadline = time.monotonic() + 15
    sources = []
    while time.monotonic() < deadline and cluster.stats(victim)["ServerRequests"] == 0:
        digest = cluster.put(os.urandom(1000))
        if cluster.owner(digest) != victim:
            continue
        resp = cluster.get(0, digest)
        assert resp.status_code == 200
        sources.append(resp.headers["X-Cache"])
        time.sleep(0.2)
    assert cluster.stats(victim)["ServerRequests"] >= 1, sources
    assert sources[-1] == "peer", sources


@pytest.mark.timing
def test_origin_down_cached_keys_served_misses_fail_fast(cache_cluster: Start) -> None:
    cluster = cache_cluster()
    cached = {cluster.put(d): d for d in (os.urandom(20_000) for _ in range(3))}
    uncached = cluster.put(os.urandom(20_000))
    for digest in cached:
        for i in range(3):
            assert cluster.get(i, digest).status_code == 200
    cluster.origin.stop()
    for digest, data in cached.items():
        for i in range(3):
            resp = cluster.get(i, digest)
            assert resp.status_code == 200 and resp.content == data
            assert resp.headers["X-Cache"] == "hit"
    for i in range(3):
        started = time.monotonic()
        resp = cluster.get(i, uncached)
        elapsed = time.monotonic() - started
        # 502/504 from the first load that finds the origin gone, 503 once it is backed
        # off (until a background probe answers): each with Retry-After.
        assert resp.status_code in (502, 503, 504)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert resp.headers["Retry-After"] == "1"
        assert elapsed < 2, elapsed
    # The owner relayed its origin's failure: not a failure of the owner, nothing backed off.
    assert cluster.total("PeerErrors") == 0
    owner = cluster.owner(uncached)
    # An asker that still saw the origin up tried once itself (the owner's link may be
    # what failed); once its probe found the origin gone, it did not.
    assert all(cluster.stats(i)["LocalLoadErrs"] <= 1 for i in range(3) if i != owner)


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_member_logs_are_json(cache_cluster: Start, server: str) -> None:
    cluster = cache_cluster(n=1, server=server)
    digest = cluster.put(os.urandom(100))
    for _ in range(3):
        cluster.get(0, digest)
    lines = cluster.members[0].log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert not [r for r in records if digest in r.get("message", "")]  # no access log
    fills = [r for r in records if r.get("message") == "cache fill"]
    assert len(fills) == 1 and fills[0]["digest"] == digest and fills[0]["x_cache"] == "miss"


class LyingOrigin(LoopbackHTTPServer):
    """LyingOrigin is a real HTTP origin that sends the wrong bytes until told to stop."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.lying = True
        self.gets = 0
        origin = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/healthz":
                    # Healthy, as a casserver that sends wrong bytes would be: a 404 here
                    # made the members' probes back the origin off, and then a client saw a
                    # 503 in place of the 502 (or the 200) whenever a probe came before a
                    # load, or a whole heard-from window after one (a loaded machine).
                    self.send_body(b"")
                    return
                origin.gets += 1
                data = origin.blobs.get(self.path.rsplit("/", 1)[-1])
                if data is None:
                    self.send_error(404)
                    return
                self.send_body(data[::-1] if origin.lying else data)

        super().__init__(Handler)


def test_wrong_bytes_from_the_origin_are_never_cached(cache_cluster: Start) -> None:
    data = os.urandom(30_000)
    digest = sha256_hex(data)
    liar = LyingOrigin({digest: data})
    try:
        cluster = cache_cluster(origin_url=liar.url)
        for _ in range(2):
            for i in range(3):
                resp = cluster.get(i, digest)
                assert resp.status_code == 502
                assert resp.headers["Content-Type"] == "application/problem+json"
        assert cluster.total("VerifyErrors") >= 6
        for i in range(3):
            stats = cluster.stats(i)
            assert stats["main"]["items"] == 0 and stats["hot"]["items"] == 0
        liar.lying = False
        time.sleep(1.1)  # the peer backoff after the owner's 502s
        for i in range(3):
            resp = cluster.get(i, digest)
            assert resp.status_code == 200 and resp.content == data
    finally:
        liar.close()


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_members_with_a_peer_token_load_from_each_other_and_refuse_others(
    cache_cluster: Start, server: str
) -> None:
    # Hedges off: LocalLoads counts one origin load per blob only without them. An owner slow
    # past the 0.3 s hedge delay (its first answers, a loaded machine) would have the asker
    # load from the origin too, a thirteenth LocalLoad though the token worked.
    env = {"CACHE_PEER_TOKEN": "t0ken-of-the-ring", **NO_HEDGES}
    cluster = cache_cluster(server=server, env=env)
    blobs = {cluster.put(d): d for d in (os.urandom(5_000) for _ in range(12))}
    for digest, data in blobs.items():
        for i in range(3):
            resp = cluster.get(i, digest)
            assert resp.status_code == 200 and resp.content == data
    assert cluster.total("PeerLoads") >= 1 and cluster.total("PeerErrors") == 0
    assert cluster.total("LocalLoads") == len(blobs)
    digest = next(iter(blobs))
    owner = cluster.peer_urls[cluster.owner(digest)]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = requests.get(f"{owner}/_groupcache/cas/{digest}", headers=headers, timeout=5)
        assert resp.status_code == 403
        assert resp.headers["Content-Type"] == "application/problem+json"
    for i in range(3):
        assert "t0ken-of-the-ring" not in cluster.members[i].log_path.read_text()
