"""The HTTP API in process (falcon.testing): statuses, headers and what ends up on disk."""

import errno
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from casserver.app import create_app
from casserver.blobfile import TempBlob
from casserver.config import Config
from casserver.storage import BlobStore
from tests.support import is_lock

DATA = b"the quick brown fox jumps over the lazy dog\n" * 100
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA1 = hashlib.sha1(DATA).hexdigest()
OTHER256 = hashlib.sha256(b"other").hexdigest()
BOUNDARY = "casboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

Client = falcon.testing.TestClient
MakeClient = Callable[..., Client]


def part(name: str, data: bytes, filename: str = "blob") -> bytes:
    disposition = f'form-data; name="{name}"; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    return (head + "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def stored(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_lock(p)
    }


@pytest.fixture
def make_client(tmp_path: Path) -> MakeClient:
    def make(**overrides: object) -> Client:
        config = Config(storage_dir=tmp_path, **overrides)  # type: ignore[arg-type]
        return falcon.testing.TestClient(create_app(config, registry=CollectorRegistry()))

    return make


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()


def assert_problem(result: falcon.testing.Result, status: int, title: str | None = None) -> None:
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    doc = json.loads(result.text)
    assert doc["status"] == status
    assert "Traceback" not in result.text
    if title is not None:
        assert doc["title"] == title


def test_raw_put_stores_then_answers_200_without_rewriting(client: Client, tmp_path: Path) -> None:
    first = client.simulate_put(f"/cas/{SHA256}", body=DATA)
    assert first.status_code == 201
    assert first.json == {"digest": SHA256, "size": len(DATA)}
    blob = tmp_path / "sha256" / SHA256[:2] / SHA256
    inode = blob.stat().st_ino
    again = client.simulate_put(f"/cas/{SHA256}", body=DATA)
    assert again.status_code == 200
    assert again.json == {"digest": SHA256, "size": len(DATA)}
    assert blob.stat().st_ino == inode
    assert stored(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}


@pytest.mark.parametrize(
    ("content_type", "body", "title"),
    [
        (None, b"not the stored bytes", "Digest mismatch"),
        (None, b"", "Digest mismatch"),
        (MULTIPART, form(part("file", b"not the stored bytes")), "Digest mismatch"),
        (MULTIPART, form(part("other", DATA)), "Malformed upload body"),
    ],
)
def test_put_of_a_stored_name_still_checks_the_body(
    client: Client, tmp_path: Path, content_type: str | None, body: bytes, title: str
) -> None:
    assert client.simulate_put(f"/cas/{SHA256}", body=DATA).status_code == 201
    headers = {"Content-Type": content_type} if content_type else {}
    assert_problem(client.simulate_put(f"/cas/{SHA256}", body=body, headers=headers), 400, title)
    assert client.simulate_get(f"/cas/{SHA256}").content == DATA
    assert stored(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}


def test_put_of_a_stored_name_is_bounded_by_the_size_limit(make_client: MakeClient) -> None:
    assert make_client().simulate_put(f"/cas/{SHA256}", body=DATA).status_code == 201
    small = make_client(max_blob_bytes=len(DATA))
    # Chunked (no Content-Length): only the streamed count can stop it.
    chunked = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    r = small.simulate_put(f"/cas/{SHA256}", body=DATA + b"more", extras=chunked)
    assert_problem(r, 413)


def test_multipart_put_by_sha1_is_reachable_by_both_names(client: Client, tmp_path: Path) -> None:
    r = client.simulate_put(
        f"/cas/{SHA1}", body=form(part("file", DATA)), headers={"Content-Type": MULTIPART}
    )
    assert r.status_code == 201, r.text
    assert r.json == {"digest": SHA1, "size": len(DATA)}
    for name in (SHA1, SHA256):
        got = client.simulate_get(f"/cas/{name}")
        assert got.status_code == 200
        assert got.content == DATA
        assert got.headers["etag"] == f'"{name}"'
    assert stored(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}", f"sha1/{SHA1[:2]}/{SHA1}"}


def test_multipart_ignores_other_fields(client: Client) -> None:
    body = form(part("comment", b"hi"), part("file", DATA))
    r = client.simulate_put(f"/cas/{SHA256}", body=body, headers={"Content-Type": MULTIPART})
    assert r.status_code == 201, r.text


def test_empty_blob(client: Client) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    assert client.simulate_put(f"/cas/{empty}", body=b"").status_code == 201
    got = client.simulate_get(f"/cas/{empty}")
    assert (got.status_code, got.content, got.headers["content-length"]) == (200, b"", "0")


@pytest.mark.parametrize(
    ("content_type", "body", "title"),
    [
        (None, DATA + b"!", "Digest mismatch"),
        (MULTIPART, form(part("file", DATA + b"!")), "Digest mismatch"),
        (MULTIPART, form(part("other", DATA)), "Malformed upload body"),
        (MULTIPART, form(part("file", DATA), part("file", DATA)), "Malformed upload body"),
        (MULTIPART, form(), "Malformed upload body"),
        (MULTIPART, b"no boundary anywhere", "Malformed upload body"),
        (MULTIPART, form(part("file", DATA))[:-40], "Malformed upload body"),
        ("multipart/form-data", form(part("file", DATA)), "Malformed upload body"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(
    client: Client, tmp_path: Path, content_type: str | None, body: bytes, title: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.simulate_put(f"/cas/{SHA256}", body=body, headers=headers)
    assert_problem(r, 400, title)
    assert stored(tmp_path) == set()
    assert client.simulate_get(f"/cas/{SHA256}").status_code == 404


@pytest.mark.parametrize(
    "digest",
    ["abc", SHA256.upper(), SHA256[:-1], SHA256 + "0", "..", "." * 64, "g" * 40, "a" * 32],
)
def test_malformed_digests_are_400(client: Client, tmp_path: Path, digest: str) -> None:
    assert_problem(client.simulate_get(f"/cas/{digest}"), 400, "Invalid digest")
    assert_problem(client.simulate_put(f"/cas/{digest}", body=DATA), 400, "Invalid digest")
    assert client.simulate_head(f"/cas/{digest}").status_code == 400
    assert stored(tmp_path) == set()


@pytest.mark.parametrize("path", ["/cas/../etc/passwd", "/cas/..%2F..%2Fetc%2Fpasswd", "/cas/a/b"])
def test_paths_with_more_segments_match_no_route(client: Client, path: str) -> None:
    assert_problem(client.simulate_get(path), 404)


def test_too_large_by_header_and_while_streaming(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(max_blob_bytes=len(DATA) - 1)
    assert_problem(client.simulate_put(f"/cas/{SHA256}", body=DATA), 413)
    # The multipart body's length is within the boundary allowance; its file part is not.
    r = client.simulate_put(
        f"/cas/{SHA256}", body=form(part("file", DATA)), headers={"Content-Type": MULTIPART}
    )
    assert_problem(r, 413)
    assert_problem(client.simulate_post("/cas", body=DATA), 413)
    assert stored(tmp_path) == set()


def test_disk_full_is_507_and_reads_still_work(make_client: MakeClient, tmp_path: Path) -> None:
    assert make_client().simulate_put(f"/cas/{SHA256}", body=DATA).status_code == 201
    full = make_client(min_free_bytes=1 << 62)
    assert_problem(full.simulate_put(f"/cas/{OTHER256}", body=b"other"), 507)
    assert_problem(full.simulate_post("/cas", body=b"other"), 507)
    assert full.simulate_put(f"/cas/{SHA256}", body=DATA).status_code == 200  # needs no space
    assert full.simulate_get(f"/cas/{SHA256}").content == DATA
    assert stored(tmp_path) == {f"sha256/{SHA256[:2]}/{SHA256}"}


class _FillingTemp(TempBlob):
    """A temp file on a volume that is full by the time the body arrives."""

    def write(self, data: bytes | memoryview) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FillingStore(BlobStore):
    def create_temp(self) -> TempBlob:
        temp = super().create_temp()
        assert temp.fd is not None
        return _FillingTemp(temp.fd, temp.path)


def test_volume_filling_during_an_upload_is_507(tmp_path: Path) -> None:
    # The free-space check passed, then the volume filled (a chunked body, or
    # concurrent uploads): the write fails with ENOSPC.
    store = _FillingStore(tmp_path)
    app = create_app(Config(storage_dir=tmp_path), store=store, registry=CollectorRegistry())
    client = falcon.testing.TestClient(app)
    chunked = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    r = client.simulate_put(f"/cas/{SHA256}", body=DATA, extras=chunked)
    assert_problem(r, 507, "Insufficient storage")
    assert stored(tmp_path) == set()


def test_get_headers(client: Client) -> None:
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    r = client.simulate_get(f"/cas/{SHA256}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["etag"] == f'"{SHA256}"'
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["accept-ranges"] == "bytes"


def test_head_matches_get_without_a_body(client: Client) -> None:
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    r = client.simulate_head(f"/cas/{SHA256}")
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["etag"] == f'"{SHA256}"'
    assert client.simulate_head(f"/cas/{OTHER256}").status_code == 404


def test_absent_blob_is_404_problem(client: Client) -> None:
    assert_problem(client.simulate_get(f"/cas/{OTHER256}"), 404, "Blob not found")


def test_ranges(client: Client) -> None:
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    r = client.simulate_get(f"/cas/{SHA256}", headers={"Range": "bytes=4-8"})
    assert (r.status_code, r.content) == (206, DATA[4:9])
    assert r.headers["content-range"] == f"bytes 4-8/{len(DATA)}"
    assert r.headers["content-length"] == "5"
    r = client.simulate_get(f"/cas/{SHA256}", headers={"Range": "bytes=-3"})
    assert (r.status_code, r.content) == (206, DATA[-3:])
    r = client.simulate_get(f"/cas/{SHA256}", headers={"Range": f"bytes={len(DATA)}-"})
    assert_problem(r, 416)
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    assert "cache-control" not in r.headers  # an error is not immutable
    r = client.simulate_get(
        f"/cas/{SHA256}", headers={"Range": "bytes=0-0", "If-Range": '"something-else"'}
    )
    assert (r.status_code, r.content) == (200, DATA)
    r = client.simulate_get(
        f"/cas/{SHA256}", headers={"Range": "bytes=0-0", "If-Range": f'"{SHA256}"'}
    )
    assert (r.status_code, r.content) == (206, DATA[:1])


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        (f'"{SHA256}"', 304),
        (f'W/"{SHA256}"', 304),
        ("*", 304),
        (f'"x", "{SHA256}"', 304),
        ('"x"', 200),
    ],
)
def test_if_none_match(client: Client, if_none_match: str, status: int) -> None:
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    for method in (client.simulate_get, client.simulate_head):
        r = method(f"/cas/{SHA256}", headers={"If-None-Match": if_none_match})
        assert r.status_code == status
        assert r.headers["etag"] == f'"{SHA256}"'
        if status == 304:
            assert r.content == b""


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", f"/cas/{SHA256}"), ("POST", f"/cas/{SHA256}"), ("GET", "/cas"), ("PUT", "/cas")],
)
def test_wrong_methods_are_405(client: Client, method: str, path: str) -> None:
    r = client.simulate_request(method, path, body=b"x")
    assert_problem(r, 405)
    assert "allow" in r.headers


def test_post_names_the_blob_by_its_sha256(client: Client) -> None:
    r = client.simulate_post("/cas", body=DATA)
    assert r.status_code == 201
    assert r.headers["location"] == f"/cas/{SHA256}"
    assert r.json == {"digest": SHA256, "size": len(DATA)}
    r = client.simulate_post(
        "/cas", body=form(part("file", DATA)), headers={"Content-Type": MULTIPART}
    )
    assert r.status_code == 200
    assert r.headers["location"] == f"/cas/{SHA256}"
    assert client.simulate_get(f"/cas/{SHA256}").content == DATA


def test_health_and_readiness(client: Client, tmp_path: Path) -> None:
    assert client.simulate_get("/healthz").status_code == 200
    assert client.simulate_get("/readyz").json == {"status": "ready", "writes": "ok"}
    # The volume wiped: not ready (nothing to serve), and ready again once it is back,
    # its layout re-created on demand.
    shutil.rmtree(tmp_path)
    assert_problem(client.simulate_get("/readyz"), 503)
    tmp_path.mkdir()
    assert client.simulate_get("/readyz").json == {"status": "ready", "writes": "ok"}
    assert client.simulate_put(f"/cas/{SHA256}", body=DATA).status_code == 201


def sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in metrics")


def test_metrics_count_uploads_bytes_and_failures(client: Client) -> None:
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    client.simulate_put(f"/cas/{OTHER256}", body=DATA)
    client.simulate_get(f"/cas/{SHA256}", headers={"Range": "bytes=0-9"})
    text = client.simulate_get("/metrics").text
    assert sample(text, "cas_blobs_stored_total") == 1
    assert sample(text, "cas_storage_blobs") == 1
    assert sample(text, "cas_storage_bytes") == len(DATA)
    assert sample(text, "cas_received_bytes_total") == 3 * len(DATA)
    assert sample(text, "cas_sent_bytes_total") == 10
    assert sample(text, 'cas_upload_verification_failures_total{reason="digest_mismatch"}') == 1
    assert (
        sample(text, 'cas_http_requests_total{method="PUT",route="/cas/{digest}",status="2xx"}')
        == 2
    )
    assert sample(text, "cas_storage_free_bytes") > 0


def test_storage_gauges_start_from_what_is_on_disk(make_client: MakeClient) -> None:
    make_client().simulate_put(f"/cas/{SHA256}", body=DATA)
    text = make_client().simulate_get("/metrics").text
    assert (sample(text, "cas_storage_blobs"), sample(text, "cas_storage_bytes")) == (1, len(DATA))


def test_one_log_record_per_upload_and_per_error(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client.simulate_put(f"/cas/{SHA256}", body=DATA)
    client.simulate_put(f"/cas/{OTHER256}", body=DATA)
    stored_logs = [r for r in caplog.records if r.getMessage() == "blob stored"]
    assert [(r.digest, r.size) for r in stored_logs] == [(SHA256, len(DATA))]  # type: ignore[attr-defined]
    errors = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert [(r.status, r.digest) for r in errors] == [(400, OTHER256)]  # type: ignore[attr-defined]
