"""The WSGI app in-process (falcon.testing) over a ring of in-process groups."""

from __future__ import annotations

import json
from collections.abc import Iterator

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from cacheserver.app import build_group, create_app
from cacheserver.config import Config
from tests.unit.cacheserver.fakes import Cluster, blob


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.close()


def client_for(cluster: Cluster, member: int = 0) -> falcon.testing.TestClient:
    group = cluster.groups[cluster.urls[member]]
    app = create_app(Config(), group=group, registry=CollectorRegistry())
    return falcon.testing.TestClient(app)


def test_miss_then_hit_with_origin_headers(cluster: Cluster) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    first = client.simulate_get(f"/cas/{digest}")
    assert first.status_code == 200 and first.content == data
    assert first.headers["X-Cache"] == "miss"
    second = client.simulate_get(f"/cas/{digest}")
    assert second.status_code == 200 and second.content == data
    assert second.headers["X-Cache"] == "hit"
    for resp in (first, second):
        assert resp.headers["Content-Length"] == str(len(data))
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["ETag"] == f'"{digest}"'
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_peer_owned_key_says_peer(cluster: Cluster) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[1])
    resp = client_for(cluster).simulate_get(f"/cas/{digest}")
    assert resp.content == data and resp.headers["X-Cache"] == "peer"


def test_head_has_headers_and_no_body(cluster: Cluster) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    for _ in range(2):  # a miss (Falcon) and a hit (hit path)
        resp = client.simulate_head(f"/cas/{digest}")
        assert resp.status_code == 200 and resp.content == b""
        assert resp.headers["Content-Length"] == str(len(data))


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=0-9", 206, slice(0, 10)),
        ("bytes=990-", 206, slice(990, 1000)),
        ("bytes=-5", 206, slice(995, 1000)),
        ("bytes=995-5000", 206, slice(995, 1000)),
        ("bytes=0-1,5-6", 200, slice(0, 1000)),  # multi-range: ignored
        ("items=0-1", 200, slice(0, 1000)),
        ("bytes=1000-", 416, None),
    ],
)
def test_range(cluster: Cluster, header: str, status: int, expected: slice | None) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    client.simulate_get(f"/cas/{digest}")  # cached: ranges still go through Falcon
    resp = client.simulate_get(f"/cas/{digest}", headers={"Range": header})
    assert resp.status_code == status
    if expected is not None:
        assert resp.content == data[expected]
        assert resp.headers["Content-Length"] == str(len(data[expected]))
    if status == 206:
        assert expected is not None
        last = min(expected.stop, len(data)) - 1
        assert resp.headers["Content-Range"] == f"bytes {expected.start}-{last}/1000"
    if status == 416:
        assert resp.headers["Content-Range"] == "bytes */1000"
        assert "Cache-Control" not in resp.headers  # an error is not immutable


@pytest.mark.parametrize("header", ["bytes=0-9", "bytes=1000-"])
def test_head_ignores_range_as_the_origin_does(cluster: Cluster, header: str) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    resp = client_for(cluster).simulate_head(f"/cas/{digest}", headers={"Range": header})
    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == str(len(data))
    assert "Content-Range" not in resp.headers


def test_if_range_mismatch_sends_everything(cluster: Cluster) -> None:
    [(digest, data)] = cluster.owned_by(cluster.urls[0])
    resp = client_for(cluster).simulate_get(
        f"/cas/{digest}", headers={"Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert resp.status_code == 200 and resp.content == data


@pytest.mark.parametrize("tag", ['"{d}"', 'W/"{d}"', '"x", "{d}"', "*"])
def test_if_none_match_is_304(cluster: Cluster, tag: str) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    resp = client_for(cluster).simulate_get(
        f"/cas/{digest}", headers={"If-None-Match": tag.format(d=digest)}
    )
    assert resp.status_code == 304 and resp.content == b""
    assert resp.headers["ETag"] == f'"{digest}"'


@pytest.mark.parametrize(
    "key",
    ["abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "..%2F..%2Fetc%2Fpasswd", "0" * 40 + "/x"],
)
def test_bad_key_is_400_and_never_reaches_the_origin(cluster: Cluster, key: str) -> None:
    client = client_for(cluster)
    for path in (f"/cas/{key}", f"/_groupcache/cas/{key}"):
        resp = client.simulate_get(path)
        assert resp.status_code in (400, 404)  # 404: a path Falcon routes nowhere
        assert resp.headers["Content-Type"] == "application/problem+json"
    assert cluster.origin.fetches == 0
    assert client.simulate_get(f"/cas/{'g' * 64}").status_code == 400


def test_missing_blob_is_404_problem(cluster: Cluster) -> None:
    resp = client_for(cluster).simulate_get(f"/cas/{blob(424242)[0]}")
    assert resp.status_code == 404
    assert resp.json["status"] == 404


def test_corrupt_origin_is_502_and_not_cached(cluster: Cluster) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    cluster.origin.corrupt = True
    client = client_for(cluster)
    resp = client.simulate_get(f"/cas/{digest}")
    assert resp.status_code == 502
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert "Traceback" not in resp.text
    assert client.simulate_get("/stats").json["main"]["items"] == 0


def test_origin_down_is_502(cluster: Cluster) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    cluster.origin.down = True
    assert client_for(cluster).simulate_get(f"/cas/{digest}").status_code == 502


def test_load_errors_are_counted_by_kind_and_status(cluster: Cluster) -> None:
    owned = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    client.simulate_get(f"/cas/{blob(424242)[0]}")
    cluster.origin.down = True
    client.simulate_get(f"/cas/{owned[0][0]}")
    text = client.simulate_get("/metrics").text
    assert 'cacheserver_load_errors_total{kind="NotFound",status="404"} 1.0' in text
    assert 'status="502"} 1.0' in text
    assert owned[0][0] not in text


def test_the_client_port_does_not_serve_the_peer_protocol(cluster: Cluster) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    assert client.simulate_get(f"/_groupcache/cas/{digest}").status_code == 404
    assert client.simulate_get("/stats").json["ServerRequests"] == 0


def test_stats_and_metrics_agree(cluster: Cluster) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    for _ in range(3):
        client.simulate_get(f"/cas/{digest}")
    stats = client.simulate_get("/stats").json
    for name in ("Gets", "CacheHits", "PeerLoads", "PeerErrors", "Loads", "LoadsDeduped",
                 "LocalLoads", "LocalLoadErrs", "ServerRequests"):  # fmt: skip
        assert isinstance(stats[name], int)
    assert (stats["Gets"], stats["CacheHits"], stats["LocalLoads"]) == (3, 2, 1)
    assert stats["members"] == sorted(cluster.urls)
    text = client.simulate_get("/metrics").text
    assert "cacheserver_gets_total 3.0" in text
    assert "cacheserver_cache_hits_total 2.0" in text
    assert 'cacheserver_cache_items{cache="main"} 1.0' in text
    assert digest not in text  # labels are bounded: never a key


def test_health_routes(cluster: Cluster) -> None:
    client = client_for(cluster)
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/readyz").status_code == 200
    assert client.simulate_get("/nope").status_code == 404
    assert client.simulate_post("/stats").status_code == 405


def test_hit_path_writes_no_log(cluster: Cluster, caplog: pytest.LogCaptureFixture) -> None:
    [(digest, _)] = cluster.owned_by(cluster.urls[0])
    client = client_for(cluster)
    caplog.set_level("DEBUG")
    client.simulate_get(f"/cas/{digest}")
    assert any("cache fill" in r.message for r in caplog.records)
    caplog.clear()
    for _ in range(5):
        client.simulate_get(f"/cas/{digest}")
    assert caplog.records == []


def test_problem_bodies_are_json(cluster: Cluster) -> None:
    body = client_for(cluster).simulate_get("/cas/zz").content
    assert json.loads(body)["status"] == 400


@pytest.mark.parametrize(
    ("peers", "self_url", "warned"),
    [
        (("http://a:1", "http://b:1/"), "http://b:1", False),
        ((), None, False),  # a ring of one
        (("http://a:1", "http://b:1"), None, True),  # self defaults to 127.0.0.1:port
        (("http://a:1", "http://b:1"), "http://B.local:1", True),
    ],
)
def test_a_member_missing_from_its_peer_list_is_warned_about(
    caplog: pytest.LogCaptureFixture, peers: tuple[str, ...], self_url: str | None, warned: bool
) -> None:
    caplog.set_level("WARNING")
    group = build_group(Config(peers=peers, self_url=self_url))
    group.close()
    assert any("not in CACHE_PEERS" in r.message for r in caplog.records) == warned
