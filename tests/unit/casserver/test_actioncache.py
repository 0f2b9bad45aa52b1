"""The action cache in process (falcon.testing): /ac/ statuses, limits, overwrites and files."""

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from cascommon.digest import SHA256 as SHA256_NAME
from cascommon.digest import Digest
from casserver.actioncache import ActionCache
from casserver.app import create_app
from casserver.config import Config
from casserver.metrics import Metrics
from casserver.storage import BlobStore
from casserver.upload import Body, TruncatedBody
from tests.support import is_lock
from tests.unit.casserver.test_app import assert_problem, sample, stored

KEY = hashlib.sha256(b"an action").hexdigest()
ENTRY = Digest(SHA256_NAME, KEY)
RESULT = b"\x0a\x20" + b"action result protobuf " * 40
LIMIT = 4096


def temp_files(root: Path) -> list[Path]:
    """Temp_files lists upload files left under tmp/ (workspace locks hold no data)."""
    return [p for p in (root / "tmp").rglob("*") if p.is_file() and not is_lock(p)]


@pytest.fixture
def client(tmp_path: Path) -> falcon.testing.TestClient:
    config = Config(storage_dir=tmp_path, max_ac_bytes=LIMIT)
    return falcon.testing.TestClient(create_app(config, registry=CollectorRegistry()))


def test_absent_entry_is_404_problem_for_get_and_head(client: falcon.testing.TestClient) -> None:
    assert_problem(client.simulate_get(f"/ac/{KEY}"), 404, "Action result not found")
    head = client.simulate_head(f"/ac/{KEY}")
    assert head.status_code == 404
    assert head.content == b""


def test_put_then_get_and_head(client: falcon.testing.TestClient, tmp_path: Path) -> None:
    put = client.simulate_put(f"/ac/{KEY}", body=RESULT)
    assert put.status_code == 200
    assert put.json == {"digest": KEY, "size": len(RESULT)}
    got = client.simulate_get(f"/ac/{KEY}")
    assert got.status_code == 200
    assert got.content == RESULT
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["cache-control"] == "no-cache"  # never "immutable" like a blob
    assert "etag" not in got.headers
    head = client.simulate_head(f"/ac/{KEY}")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(RESULT))
    # Not content-addressed: kept apart from blobs, and never visible under /cas/.
    assert stored(tmp_path) == {f"ac/{KEY[:2]}/{KEY}"}
    assert client.simulate_get(f"/cas/{KEY}").status_code == 404


def test_a_second_put_replaces_the_entry(client: falcon.testing.TestClient, tmp_path: Path) -> None:
    client.simulate_put(f"/ac/{KEY}", body=RESULT)
    assert client.simulate_put(f"/ac/{KEY}", body=b"newer").status_code == 200
    assert client.simulate_get(f"/ac/{KEY}").content == b"newer"
    assert stored(tmp_path) == {f"ac/{KEY[:2]}/{KEY}"}  # no temp file left


def test_empty_entry(client: falcon.testing.TestClient) -> None:
    assert client.simulate_put(f"/ac/{KEY}", body=b"").status_code == 200
    got = client.simulate_get(f"/ac/{KEY}")
    assert (got.status_code, got.content) == (200, b"")


def test_over_the_limit_is_413_and_keeps_the_old_entry(
    client: falcon.testing.TestClient, tmp_path: Path
) -> None:
    client.simulate_put(f"/ac/{KEY}", body=RESULT)
    assert_problem(client.simulate_put(f"/ac/{KEY}", body=b"x" * (LIMIT + 1)), 413)
    # Chunked (no Content-Length): refused while streaming, not only by header.
    chunked = client.simulate_put(
        f"/ac/{KEY}", body=b"x" * (LIMIT + 1), headers={"Transfer-Encoding": "chunked"}
    )
    assert_problem(chunked, 413)
    assert client.simulate_put(f"/ac/{KEY}", body=b"x" * LIMIT).status_code == 200
    assert client.simulate_get(f"/ac/{KEY}").content == b"x" * LIMIT
    assert stored(tmp_path) == {f"ac/{KEY[:2]}/{KEY}"}


@pytest.mark.parametrize("key", [KEY[:40], KEY.upper(), ".." + KEY[2:], "x" * 64])
def test_keys_other_than_sha256_hex_are_400(client: falcon.testing.TestClient, key: str) -> None:
    assert_problem(client.simulate_put(f"/ac/{key}", body=RESULT), 400)
    assert_problem(client.simulate_get(f"/ac/{key}"), 400)


def test_wrong_method_is_405(client: falcon.testing.TestClient) -> None:
    assert client.simulate_post(f"/ac/{KEY}", body=RESULT).status_code == 405
    assert client.simulate_delete(f"/ac/{KEY}").status_code == 405


def test_metrics_count_hits_misses_and_writes(client: falcon.testing.TestClient) -> None:
    client.simulate_get(f"/ac/{KEY}")
    client.simulate_put(f"/ac/{KEY}", body=RESULT)
    client.simulate_get(f"/ac/{KEY}")
    client.simulate_head(f"/ac/{KEY}")
    text = client.simulate_get("/metrics").text
    labels = 'cas_action_cache_requests_total{{operation="{}",result="{}"}}'
    assert sample(text, labels.format("get", "miss")) == 1
    assert sample(text, labels.format("get", "hit")) == 1
    assert sample(text, labels.format("head", "hit")) == 1
    assert sample(text, labels.format("put", "stored")) == 1
    assert sample(text, "cas_received_bytes_total") == len(RESULT)
    route = 'cas_http_requests_total{method="GET",route="/ac/{digest}",status="4xx"}'
    assert sample(text, route) == 1
    assert "cas_storage_blobs 0.0" in text  # action results are not blobs


def _cache(tmp_path: Path) -> ActionCache:
    return ActionCache(BlobStore(tmp_path), Metrics(CollectorRegistry()))


def test_a_broken_body_leaves_the_old_entry_and_no_temp_file(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.put(ENTRY, Body(iter([b"old"]), 3))

    def broken() -> Iterator[bytes]:
        yield b"half of the new"
        raise TruncatedBody("client went away")

    with pytest.raises(TruncatedBody):
        cache.put(ENTRY, Body(broken(), 100))
    with cache.open(ENTRY) as entry:  # type: ignore[union-attr]
        assert entry.read() == b"old"
    assert temp_files(tmp_path) == []


def test_a_reader_keeps_the_entry_it_opened_across_an_overwrite(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    cache.put(ENTRY, Body(iter([b"A" * 1000]), 1000))
    entry = cache.open(ENTRY)
    assert entry is not None
    with entry:
        assert entry.read(10) == b"A" * 10
        cache.put(ENTRY, Body(iter([b"B" * 2000]), 2000))
        assert entry.read() == b"A" * 990  # the old inode, whole, never a mix
    with cache.open(ENTRY) as new:  # type: ignore[union-attr]
        assert new.read() == b"B" * 2000


def test_concurrent_writers_in_threads_leave_one_whole_value(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    values = [bytes([65 + i]) * (1000 + 100 * i) for i in range(8)]
    start = threading.Barrier(len(values))

    def write(value: bytes) -> None:
        start.wait(5)
        for _ in range(20):
            cache.put(ENTRY, Body(iter([value[:500], value[500:]]), len(value)))

    threads = [threading.Thread(target=write, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with cache.open(ENTRY) as entry:  # type: ignore[union-attr]
        assert entry.read() in values
    assert temp_files(tmp_path) == []
    assert os.listdir(tmp_path / "ac" / KEY[:2]) == [KEY]
