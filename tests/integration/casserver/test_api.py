"""The wire API against a real gunicorn casserver."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import MAX_BLOB_BYTES, Server, files, raw_http

BLOB = os.urandom(1 << 20) + b"tail"
SHA256 = hashlib.sha256(BLOB).hexdigest()
SHA1 = hashlib.sha1(BLOB).hexdigest()


def absent_digest(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def test_raw_put_then_get_head_range_and_304(shared: Server) -> None:
    url = f"{shared.url}/cas/{SHA256}"
    put = requests.put(url, data=BLOB, timeout=10)
    assert put.status_code in (200, 201), put.text
    assert put.json() == {"digest": SHA256, "size": len(BLOB)}
    assert requests.put(url, data=BLOB, timeout=10).status_code == 200

    with requests.Session() as s:  # one keep-alive connection: a sendfile overrun would show
        got = s.get(url, timeout=10)
        assert got.status_code == 200
        assert got.content == BLOB
        assert got.headers["Content-Type"] == "application/octet-stream"
        assert got.headers["ETag"] == f'"{SHA256}"'
        assert got.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        part = s.get(url, headers={"Range": "bytes=1000-200999"}, timeout=10)
        assert part.status_code == 206
        assert part.content == BLOB[1000:201000]
        assert part.headers["Content-Range"] == f"bytes 1000-200999/{len(BLOB)}"
        tail = s.get(url, headers={"Range": "bytes=-4"}, timeout=10)
        assert (tail.status_code, tail.content) == (206, b"tail")
        bad = s.get(url, headers={"Range": f"bytes={len(BLOB)}-"}, timeout=10)
        assert bad.status_code == 416
        assert bad.headers["Content-Range"] == f"bytes */{len(BLOB)}"
        head = s.head(url, timeout=10)
        assert (head.status_code, head.headers["Content-Length"]) == (200, str(len(BLOB)))
        cached = s.get(url, headers={"If-None-Match": f'"{SHA256}"'}, timeout=10)
        assert (cached.status_code, cached.content) == (304, b"")
        assert s.get(url, timeout=10).content == BLOB


def test_multipart_put_by_sha1_as_requests_sends_it(shared: Server) -> None:
    data = b"multipart via requests " * 1000
    sha1 = hashlib.sha1(data).hexdigest()
    r = requests.put(f"{shared.url}/cas/{sha1}", files={"file": ("blob", data)}, timeout=10)
    assert r.status_code == 201, r.text
    assert requests.get(f"{shared.url}/cas/{sha1}", timeout=10).content == data
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.get(f"{shared.url}/cas/{sha256}", timeout=10).content == data


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_multipart_put_as_the_original_client_sends_it(shared: Server, tmp_path: Path) -> None:
    # Over 1 MiB, so curl also sends Expect: 100-continue.
    data = os.urandom((1 << 20) + 12345)
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    sha1 = hashlib.sha1(data).hexdigest()
    cmd = ["curl", "-sS", "-X", "PUT", "-F", f"file=@{blob}", "-w", "\n%{http_code}"]
    out = subprocess.run(
        [*cmd, f"{shared.url}/cas/{sha1}"], capture_output=True, check=True, timeout=30
    )
    body, _, status = out.stdout.decode().rpartition("\n")
    assert status == "201", out
    assert json.loads(body) == {"digest": sha1, "size": len(data)}
    assert requests.get(f"{shared.url}/cas/{sha1}", timeout=10).content == data


def test_chunked_raw_put(shared: Server) -> None:
    data = os.urandom(300_000)
    sha256 = hashlib.sha256(data).hexdigest()

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 70_000):
            yield data[i : i + 70_000]

    r = requests.put(f"{shared.url}/cas/{sha256}", data=pieces(), timeout=10)
    assert r.status_code == 201, r.text
    assert requests.get(f"{shared.url}/cas/{sha256}", timeout=10).content == data


def test_post_returns_the_location(shared: Server) -> None:
    data = b"posted"
    r = requests.post(f"{shared.url}/cas", data=data, timeout=10)
    assert r.status_code == 201
    assert r.headers["Location"] == f"/cas/{hashlib.sha256(data).hexdigest()}"
    assert requests.get(shared.url + r.headers["Location"], timeout=10).content == data


def multipart(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    out = b""
    for name, data in parts:
        disposition = f'form-data; name="{name}"; filename="b"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: cas", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


MP = "multipart/form-data; boundary=XyZ"
D = absent_digest("bad-input")


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


BAD_INPUTS: list[tuple[str, bytes, set[int]]] = [
    ("upper-case digest", request("GET", f"/cas/{D.upper()}"), {400}),
    ("short digest", request("PUT", "/cas/abc", b"x", length=1), {400}),
    ("dot-dot digest", request("GET", "/cas/.."), {400}),
    ("dot-dot PUT", request("PUT", "/cas/..", b"x", length=1), {400}),
    ("traversal", request("GET", "/cas/../../etc/passwd"), {400, 404}),
    ("encoded slashes", request("GET", "/cas/..%2F..%2Fetc%2Fpasswd"), {400, 404}),
    ("encoded slash PUT", request("PUT", "/cas/..%2Fsha256%2Fx", b"x", length=1), {400, 404}),
    ("encoded dots", request("GET", "/cas/%2e%2e"), {400}),
    ("mismatch raw", request("PUT", f"/cas/{D}", b"not it", length=6), {400}),
    (
        "mismatch multipart",
        request(
            "PUT",
            f"/cas/{D}",
            m := multipart("XyZ", ("file", b"no")),
            {"Content-Type": MP},
            length=len(m),
        ),
        {400},
    ),
    (
        "no file part",
        request(
            "PUT",
            f"/cas/{D}",
            m := multipart("XyZ", ("other", b"no")),
            {"Content-Type": MP},
            length=len(m),
        ),
        {400},
    ),
    (
        "two file parts",
        request(
            "PUT",
            f"/cas/{D}",
            m := multipart("XyZ", ("file", b"a"), ("file", b"b")),
            {"Content-Type": MP},
            length=len(m),
        ),
        {400},
    ),
    (
        "multipart without length",
        request(
            "PUT",
            f"/cas/{D}",
            chunked(multipart("XyZ", ("file", b"a"))),
            {"Content-Type": MP, "Transfer-Encoding": "chunked"},
        ),
        {411},
    ),
    ("over the limit by header", request("PUT", f"/cas/{D}", length=MAX_BLOB_BYTES + 1), {413}),
    ("over the limit, POST", request("POST", "/cas", length=MAX_BLOB_BYTES + 1), {413}),
    (
        "over the limit while streaming",
        request(
            "PUT",
            f"/cas/{D}",
            chunked(b"z" * (MAX_BLOB_BYTES + 1)),
            {"Transfer-Encoding": "chunked"},
        ),
        {413},
    ),
    ("wrong method", request("DELETE", f"/cas/{D}"), {405}),
    ("wrong method on collection", request("GET", "/cas"), {405}),
]


@pytest.mark.parametrize(("case", "data", "statuses"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_problem_and_changes_nothing(
    shared: Server, case: str, data: bytes, statuses: set[int]
) -> None:
    before = files(shared.storage)
    reply = raw_http(shared.port, data)
    assert reply.status in statuses, (case, reply)
    assert reply.headers["content-type"] == "application/problem+json", reply
    doc = json.loads(reply.body)
    assert doc["status"] == reply.status and doc["title"]
    assert files(shared.storage) == before


@pytest.mark.parametrize("multipart_body", [False, True])
def test_truncated_upload_is_400_and_leaves_nothing(shared: Server, multipart_body: bool) -> None:
    before = files(shared.storage)
    data = b"t" * 100_000
    body = multipart("XyZ", ("file", data)) if multipart_body else data
    headers = {"Content-Type": MP} if multipart_body else {}
    # Announce the whole body, send half, then close our side: the server sees EOF early.
    reply = raw_http(
        shared.port,
        request(
            "PUT",
            f"/cas/{hashlib.sha256(data).hexdigest()}",
            body[: len(body) // 2],
            headers,
            length=len(body),
        ),
        half_close=True,
    )
    assert reply.status == 400, reply
    assert files(shared.storage) == before


def test_put_to_a_stored_name_still_checks_and_bounds_the_body(shared: Server) -> None:
    data = b"stored once " * 1000
    sha256 = hashlib.sha256(data).hexdigest()
    url = f"{shared.url}/cas/{sha256}"
    assert requests.put(url, data=data, timeout=10).status_code in (200, 201)
    wrong = requests.put(url, data=b"something else", timeout=10)
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["title"] == "Digest mismatch"
    endless = raw_http(
        shared.port,
        request("PUT", f"/cas/{sha256}", chunked(b"z" * (MAX_BLOB_BYTES + 1)),
                {"Transfer-Encoding": "chunked"}),
    )  # fmt: skip
    assert endless.status == 413, endless
    assert requests.put(url, data=data, timeout=10).status_code == 200
    assert requests.get(url, timeout=10).content == data


def test_a_path_is_percent_decoded_once(shared: Server) -> None:
    # %252e is an encoded "%2e": decoded twice it would become a dot.
    reply = raw_http(shared.port, request("GET", "/cas/%252e%252e"))
    assert reply.status == 400, reply
    assert "%2e%2e" in json.loads(reply.body)["detail"]
