"""Group: where values come from, verification, negative caching, the two caches."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

from cacheserver.errors import CorruptBlob, NotFound, Unavailable
from cacheserver.group import HIT, ITEM_OVERHEAD_BYTES, MISS, PEER
from cacheserver.ring import Ring
from cacheserver.stream import BlobStream
from cascommon.digest import parse_digest
from tests.unit.cacheserver.fakes import Cluster, blob, wait_until_waiting


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


def test_owner_loads_from_origin_then_hits(cluster: Cluster) -> None:
    a = cluster.urls[0]
    [(digest, data)] = cluster.owned_by(a)
    group = cluster.groups[a]
    assert group.get(parse_digest(digest)) == (data, MISS)
    assert group.get(parse_digest(digest)) == (data, HIT)
    stats = group.stats()
    assert (stats["Gets"], stats["CacheHits"], stats["Loads"], stats["LocalLoads"]) == (2, 1, 1, 1)
    assert stats["main"]["items"] == 1 and stats["hot"]["items"] == 0
    assert cluster.origin.fetches == 1


def test_non_owner_asks_the_owner_and_keeps_a_hot_copy(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(digest, data)] = cluster.owned_by(b)
    ga, gb = cluster.groups[a], cluster.groups[b]
    assert ga.get(parse_digest(digest)) == (data, PEER)
    assert ga.get(parse_digest(digest)) == (data, HIT)
    assert ga.stats()["PeerLoads"] == 1 and ga.stats()["hot"]["items"] == 1
    assert gb.stats()["ServerRequests"] == 1 and gb.stats()["main"]["items"] == 1
    assert cluster.origin.fetches == 1


def test_every_member_gets_the_same_value_with_one_origin_load(cluster: Cluster) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[2])
    for group in cluster.groups.values():
        assert group.get(parse_digest(digest))[0] == data
    assert cluster.origin.fetches == 1
    assert sum(g.stats()["LocalLoads"] for g in cluster.groups.values()) == 1


def test_origin_bytes_that_do_not_match_are_never_cached(cluster: Cluster) -> None:
    a = cluster.urls[0]
    [(digest, data)] = cluster.owned_by(a)
    group = cluster.groups[a]
    cluster.origin.corrupt = True
    for _ in range(2):
        with pytest.raises(CorruptBlob):
            group.get(parse_digest(digest))
    stats = group.stats()
    assert stats["VerifyErrors"] == 2 and stats["LocalLoadErrs"] == 2
    assert stats["main"]["items"] == 0 and stats["hot"]["items"] == 0
    cluster.origin.corrupt = False
    assert group.get(parse_digest(digest)) == (data, MISS)


def test_corrupt_peer_is_an_error_and_the_origin_answers(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(digest, data)] = cluster.owned_by(b)
    cluster.corrupt.add(b)
    group = cluster.groups[a]
    assert group.get(parse_digest(digest)) == (data, MISS)
    stats = group.stats()
    assert (stats["PeerErrors"], stats["VerifyErrors"], stats["LocalLoads"]) == (1, 1, 1)
    assert not cluster.peers[(a, b)].available()  # backing off


def test_dead_peer_is_backed_off_and_keys_still_served(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    keys = cluster.owned_by(b, count=3)
    dead = cluster.groups.pop(b)
    group = cluster.groups[a]
    sources = []
    for digest, data in keys:
        value, source = group.get(parse_digest(digest))
        assert value == data
        sources.append(source)
    assert sources[0] == MISS
    # Then backed off: not asked again; its keys go to the next member on the ring
    # (another peer, or this member itself), the same one from every member.
    assert set(sources[1:]) <= {MISS, PEER}
    assert group.stats()["PeerErrors"] == 1
    assert cluster.peers[(a, b)].fetches == 1
    for digest, _ in keys:
        fallback = group.picker.route(digest)
        expected = Ring(cluster.urls).successors(digest)[1]  # the member after b
        assert (a if fallback is None else fallback.base_url) == expected
    cluster.groups[b] = dead
    dead.close()


def test_peer_backoff_ends_and_peer_is_used_again(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    first, second = cluster.owned_by(b, count=2)
    peer = cluster.peers[(a, b)]
    gb = cluster.groups.pop(b)
    assert cluster.groups[a].get(parse_digest(first[0]))[1] == MISS
    cluster.groups[b] = gb
    deadline = time.monotonic() + 3
    while not peer.available() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cluster.groups[a].get(parse_digest(second[0]))[1] == PEER


def test_not_found_is_cached_briefly() -> None:
    cluster = Cluster(negative_ttl_s=0.2)
    group = cluster.groups[cluster.urls[0]]
    [(hexdigest, _)] = cluster.owned_by(cluster.urls[0])
    del cluster.origin.blobs[hexdigest]  # owned here, and the origin has no such blob
    digest = parse_digest(hexdigest)
    for _ in range(3):
        with pytest.raises(NotFound):
            group.get(digest)
    fetches = cluster.origin.fetches
    assert fetches <= 1 and group.stats()["NegativeHits"] >= 2
    time.sleep(0.3)
    with pytest.raises(NotFound):
        group.get(digest)
    assert cluster.origin.fetches == fetches + 1
    assert group.stats()["LocalLoadErrs"] == 0  # a 404 is an answer, not an error
    cluster.close()


def test_a_peers_404_is_passed_on_but_not_remembered(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(hexdigest, data)] = cluster.owned_by(b)
    digest = parse_digest(hexdigest)
    del cluster.origin.blobs[hexdigest]
    with pytest.raises(NotFound):
        cluster.groups[a].get(digest)
    cluster.origin.blobs[hexdigest] = data
    cluster.groups[b].close()  # the owner is gone, and with it its own negative cache
    del cluster.groups[b]
    assert cluster.groups[a].get(digest) == (data, MISS)  # asked again, not a remembered 404
    assert cluster.groups[a].stats()["NegativeHits"] == 0


def test_an_origin_failure_the_owner_reports_does_not_back_it_off(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(hexdigest, _)] = cluster.owned_by(b)
    cluster.origin.down = True
    with pytest.raises(Unavailable):
        cluster.groups[a].get(parse_digest(hexdigest))
    assert cluster.peers[(a, b)].available()  # the owner answered; its origin failed
    # The origin looked up from the asker: it tried once itself (the owner's link to
    # the origin may be what failed). Once it sees the origin down, it passes it on.
    assert cluster.origin.fetches == 2
    assert cluster.groups[a].stats()["PeerErrors"] == 0
    cluster.groups[a].origin.health.failed("down")
    with pytest.raises(Unavailable):
        cluster.groups[a].get(parse_digest(hexdigest))
    assert cluster.origin.fetches == 3  # the owner's only


def test_origin_down_fails_misses_but_serves_hits(cluster: Cluster) -> None:
    a = cluster.urls[0]
    cached, missing = cluster.owned_by(a, count=2)
    group = cluster.groups[a]
    group.get(parse_digest(cached[0]))
    cluster.origin.down = True
    assert group.get(parse_digest(cached[0])) == (cached[1], HIT)
    with pytest.raises(Unavailable):
        group.get(parse_digest(missing[0]))
    assert group.stats()["LocalLoadErrs"] == 1


def test_peer_endpoint_never_forwards(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(digest, data)] = cluster.owned_by(b)
    group = cluster.groups[a]
    assert group.get_for_peer(parse_digest(digest)) == data
    assert cluster.peers[(a, b)].fetches == 0
    assert group.stats()["LocalLoads"] == 1 and group.stats()["hot"]["items"] == 1


def test_concurrent_misses_make_one_load(cluster: Cluster) -> None:
    a = cluster.urls[0]
    [(digest, data)] = cluster.owned_by(a)
    cluster.origin.gate = threading.Event()  # the load ends once all ten wait for it
    group = cluster.groups[a]
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(group.get(parse_digest(digest))[0]))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    wait_until_waiting(threads)
    cluster.origin.gate.set()
    for t in threads:
        t.join(5)
    assert results == [data] * 10
    assert cluster.origin.fetches == 1
    stats = group.stats()
    assert (stats["Loads"], stats["LoadsDeduped"], stats["LocalLoads"]) == (10, 1, 1)


def test_hot_cache_stays_near_an_eighth_of_the_budget() -> None:
    cluster = Cluster(cache_bytes=16_000)  # items of 1000 bytes, at most 1000 each
    a = cluster.urls[0]
    group = cluster.groups[a]
    for owner in cluster.urls:
        for digest, _ in cluster.owned_by(owner, count=20, start=1000 * len(owner)):
            group.get(parse_digest(digest))
    stats = group.stats()
    assert stats["hot"]["bytes"] <= 16_000 // 8
    assert stats["main"]["bytes"] <= 16_000 - 16_000 // 8
    assert stats["hot"]["evictions"] > 0 and stats["main"]["evictions"] > 0
    assert stats["main"]["bytes"] + stats["hot"]["bytes"] <= 16_000
    cluster.close()


def test_tiny_blobs_are_charged_for_their_keys_too() -> None:
    # Counted by length alone, 64 KB of one-byte blobs would be 64,000 entries and
    # some 20 MB of memory.
    cluster = Cluster(cache_bytes=64_000)
    group = cluster.groups[cluster.urls[0]]
    for n in range(1000):
        digest, data = blob(n, size=1)
        cluster.origin.blobs[digest] = data
        assert group.get(parse_digest(digest))[0] == data
    stats = group.stats()
    cached = stats["main"]["items"] + stats["hot"]["items"]
    assert 0 < cached <= 64_000 // ITEM_OVERHEAD_BYTES
    assert stats["main"]["bytes"] + stats["hot"]["bytes"] == cached  # the blobs' own bytes
    cluster.close()


def test_oversize_value_is_served_but_not_cached() -> None:
    cluster = Cluster(cache_bytes=16_000)  # item limit 1000
    a = cluster.urls[0]
    group = cluster.groups[a]
    [(digest, _)] = cluster.owned_by(a)
    big = bytes(5000)
    big_digest = hashlib.sha256(big).hexdigest()
    cluster.origin.blobs[big_digest] = big
    group.get(parse_digest(digest))
    for _ in range(2):
        stream, source = group.get(parse_digest(big_digest))
        assert isinstance(stream, BlobStream) and source in (MISS, PEER)
        assert b"".join(stream) == big
        stream.close()
    stats = group.stats()
    assert stats["Streams"] == 2
    assert stats["main"]["items"] + stats["hot"]["items"] == 1
    assert stats["main"]["evictions"] == 0
    cluster.close()


def test_owner_merges_client_and_peer_loads(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(digest, data)] = cluster.owned_by(a)
    cluster.origin.delay_s = 0.2
    results: list[bytes] = []
    calls = [
        lambda: cluster.groups[a].get(parse_digest(digest))[0],
        lambda: cluster.groups[a].get_for_peer(parse_digest(digest)),
        lambda: cluster.groups[b].get(parse_digest(digest))[0],  # forwarded to a
    ]
    threads = [threading.Thread(target=lambda c=c: results.append(c())) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [data] * 3
    assert cluster.origin.fetches == 1


def test_a_busy_peer_that_times_out_is_not_backed_off(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    first, second, third = cluster.owned_by(b, count=3)
    assert cluster.groups[a].get(parse_digest(first[0])) == (first[1], PEER)
    cluster.slow.add(b)
    assert cluster.groups[a].get(parse_digest(second[0])) == (second[1], MISS)
    assert cluster.groups[a].stats()["PeerErrors"] == 1
    # b answered within the last wait: alive, busy, likely loading the key for us.
    assert cluster.peers[(a, b)].available()
    cluster.slow.clear()
    assert cluster.groups[a].get(parse_digest(third[0])) == (third[1], PEER)


def test_a_peer_that_never_answers_is_backed_off(cluster: Cluster) -> None:
    a, b = cluster.urls[0], cluster.urls[1]
    [(digest, data)] = cluster.owned_by(b)
    cluster.slow.add(b)
    assert cluster.groups[a].get(parse_digest(digest)) == (data, MISS)
    assert not cluster.peers[(a, b)].available()  # hung, as far as anyone can tell


def test_owners_loads_never_queue_behind_their_waits_on_other_owners() -> None:
    # One fill thread each. Before origin loads and peer loads had pools of their
    # own, a waited for b with its only thread while b waited for a with its own,
    # and both peer requests queued behind: nothing moved until the fill timeout.
    cluster = Cluster(n=2, max_fills=1)
    a, b = cluster.urls
    [(key_a, data_a)] = cluster.owned_by(a)
    [(key_b, data_b)] = cluster.owned_by(b)
    cluster.origin.delay_s = 0.3
    for peer in cluster.peers.values():
        peer.delay_s = 0.2  # both remote fills hold their member's thread before asking
    results: dict[str, tuple[bytes, str]] = {}
    calls = {
        key_b: lambda: cluster.groups[a].get(parse_digest(key_b)),
        key_a: lambda: cluster.groups[b].get(parse_digest(key_a)),
    }
    threads = [
        threading.Thread(target=lambda k=k, c=c: results.__setitem__(k, c()))
        for k, c in calls.items()
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {key_a: (data_a, PEER), key_b: (data_b, PEER)}
    assert time.monotonic() - started < 2
    assert cluster.origin.fetches == 2
    assert sum(g.stats()["PeerErrors"] for g in cluster.groups.values()) == 0
    cluster.close()
