"""FastGet answers the same from memory as from disk: statuses, headers in order, bytes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from cascommon.digest import SHA256, Digest
from casserver.app import create_app
from casserver.blobcache import SMALL_BYTES, BlobCache
from casserver.config import Config
from casserver.fastget import FastGet
from casserver.metrics import Metrics
from casserver.storage import BlobStore
from tests.unit.casserver.test_rsgi import Headers

# An answer as the client sees it: status, headers in order, body bytes.
Answer = tuple[int, list[tuple[str, str]], bytes]


class Protocol:
    """Protocol records the one answer FastGet gives, reading files as granian would send them."""

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.sent_file = False

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.answer = (status, list(headers), b"")

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, list(headers), bytes(body))

    def response_file(self, status: int, headers: list[tuple[str, str]], file: str) -> None:
        self.answer = (status, list(headers), Path(file).read_bytes())
        self.sent_file = True

    def response_file_range(
        self, status: int, headers: list[tuple[str, str]], file: str, start: int, end: int
    ) -> None:
        self.answer = (status, list(headers), Path(file).read_bytes()[start:end])
        self.sent_file = True


class Scope:
    def __init__(self, method: str, path: str, *headers: tuple[str, str]) -> None:
        self.method, self.path, self.headers = method, path, Headers(*headers)


def stored(store: BlobStore, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = store.path(Digest(SHA256, digest))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def fast_get(store: BlobStore, cache: BlobCache) -> FastGet:
    return FastGet(store, Metrics(CollectorRegistry()), cache=cache)


def ask(fast: FastGet, method: str, path: str, *headers: tuple[str, str]) -> Answer | None:
    protocol = Protocol()
    if not fast.serve(Scope(method, path, *headers), protocol):
        return None
    assert protocol.answer is not None
    return protocol.answer


def requests_for(digest: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    tag = f'"{digest}"'
    return [
        ("GET", ()),
        ("HEAD", ()),
        ("GET", (("range", "bytes=10-19"),)),
        ("GET", (("range", "bytes=-5"),)),
        ("GET", (("range", "bytes=5-"),)),
        ("GET", (("range", "bytes=99999999-"),)),  # 416: Falcon words it
        ("GET", (("range", "items=0-1"),)),  # ignored: the whole blob
        ("GET", (("range", "bytes=10-19"), ("if-range", tag))),
        ("GET", (("range", "bytes=10-19"), ("if-range", '"other"'))),
        ("HEAD", (("range", "bytes=10-19"),)),
        ("GET", (("if-none-match", tag),)),
        ("GET", (("if-none-match", f'"x", W/{tag}'),)),
        ("GET", (("if-none-match", '"other"'),)),
        ("HEAD", (("if-none-match", "*"),)),
        # Duplicate lines are joined, as a WSGI environ joins them: any tag matches (304),
        # and two Range lines are no valid range (the whole blob).
        ("GET", (("if-none-match", '"other"'), ("if-none-match", tag))),
        ("HEAD", (("if-none-match", '"other"'), ("if-none-match", tag))),
        ("GET", (("if-none-match", '"other"'), ("if-none-match", '"more"'))),
        ("GET", (("range", "bytes=0-1"), ("range", "bytes=5-6"))),
        ("GET", (("range", "bytes=0-1"), ("if-range", '"x"'), ("if-range", tag))),
    ]


@pytest.mark.parametrize("size", [0, 100, 25_000, SMALL_BYTES + 1])
def test_memory_and_disk_answer_alike(tmp_path: Path, size: int) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(size)
    digest = stored(store, data)
    path = f"/cas/{digest}"
    cached = fast_get(store, BlobCache(4 << 20, 1 << 20))
    disk = fast_get(store, BlobCache(0, 0))
    for method, headers in requests_for(digest):
        from_disk = ask(disk, method, path, *headers)
        filling = ask(cached, method, path, *headers)
        from_memory = ask(cached, method, path, *headers)
        assert filling == from_memory == from_disk, (method, headers)


def test_a_plain_get_has_todays_headers_in_order(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(25_000)
    digest = stored(store, data)
    fast = fast_get(store, BlobCache(1 << 20, 1 << 18))
    for _ in range(2):  # filled, then from memory
        assert ask(fast, "GET", f"/cas/{digest}") == (
            200,
            [
                ("etag", f'"{digest}"'),
                ("cache-control", "public, max-age=31536000, immutable"),
                ("accept-ranges", "bytes"),
                ("content-type", "application/octet-stream"),
                ("content-length", "25000"),
            ],
            data,
        )
    assert len(fast._cache) == 1


def test_what_fastget_leaves_to_falcon(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = stored(store, b"x" * 100)
    fast = fast_get(store, BlobCache(1 << 20, 1 << 18))
    assert ask(fast, "GET", f"/cas/{digest}") is not None
    absent = hashlib.sha256(b"absent").hexdigest()
    for method, path in [
        ("PUT", f"/cas/{digest}"),
        ("GET", f"/cas/{absent}"),
        ("GET", f"/cas/{digest.upper()}"),
        ("GET", f"/cas/{digest[:-1]}"),
        ("GET", f"/ac/{digest}"),
        ("GET", "/healthz"),
    ]:
        assert ask(fast, method, path) is None, (method, path)


def test_a_blob_file_it_cannot_read_is_a_500_problem_from_both_paths(tmp_path: Path) -> None:
    # A directory (or an unreadable file) under a blob's name: os.stat works, the read fails.
    # FastGet must not raise out of granian's callback (a bare 500 and a traceback), nor
    # hand the file to granian (its plain-text 404): the same 500 problem as Falcon's.
    store = BlobStore(tmp_path)
    digest = hashlib.sha256(b"not a file").hexdigest()
    store.path(Digest(SHA256, digest)).mkdir(parents=True)
    fast = fast_get(store, BlobCache(1 << 20, 1 << 18))
    app = falcon.testing.TestClient(
        create_app(Config(storage_dir=store.root), store=store, registry=CollectorRegistry())
    )
    for method in ("GET", "HEAD"):
        answer = ask(fast, method, f"/cas/{digest}")
        assert answer is not None
        status, headers, body = answer
        falcon_answer = app.simulate_request(method, f"/cas/{digest}")
        assert status == falcon_answer.status_code == 500, method
        assert dict(headers)["content-type"] == falcon_answer.headers["content-type"]
        if method == "GET":
            assert json.loads(body) == falcon_answer.json
    assert len(fast._cache) == 0


def test_big_blobs_are_sent_from_their_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = stored(store, os.urandom(SMALL_BYTES + 1))
    fast = fast_get(store, BlobCache(4 << 20, SMALL_BYTES))
    protocol = Protocol()
    assert fast.serve(Scope("GET", f"/cas/{digest}"), protocol)
    assert protocol.sent_file and len(fast._cache) == 0


def test_fastget_answers_as_the_falcon_resource(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "store")
    data = os.urandom(25_000)
    digest = stored(store, data)
    path = f"/cas/{digest}"
    fast = fast_get(store, BlobCache(1 << 20, 1 << 18))
    app = falcon.testing.TestClient(
        create_app(Config(storage_dir=store.root), store=store, registry=CollectorRegistry())
    )
    for method, headers in requests_for(digest):
        for _ in range(2):  # filled, then from memory
            answer = ask(fast, method, path, *headers)
            if answer is None:
                continue  # Falcon's own answer, by definition the same
            status, sent, body = answer
            falcon_answer = app.simulate_request(method, path, headers=list(headers))
            assert status == falcon_answer.status_code, (method, headers)
            assert body == falcon_answer.content, (method, headers)
            wanted = {k.lower(): v for k, v in falcon_answer.headers.items()}
            if status == 304:
                wanted.pop("content-length", None)  # granian sends none for a 304
            assert dict(sent) == wanted, (method, headers)


def test_falcon_refuses_a_blob_path_that_is_not_a_file_before_answering(tmp_path: Path) -> None:
    # Reading a directory fails only once the body is sent: a cut answer (gunicorn closed
    # the connection, granian sent an empty 500). It must be a problem+json 500 instead.
    store = BlobStore(tmp_path / "store")
    digest = hashlib.sha256(b"not a file").hexdigest()
    store.path(Digest(SHA256, digest)).mkdir(parents=True)
    app = falcon.testing.TestClient(
        create_app(Config(storage_dir=store.root), store=store, registry=CollectorRegistry())
    )
    for method in ("GET", "HEAD"):
        resp = app.simulate_request(method, f"/cas/{digest}")
        assert resp.status_code == 500, method
        assert resp.headers["Content-Type"] == "application/problem+json"
