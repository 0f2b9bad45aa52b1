"""Every answer is the stored bytes or an error: damaged, unreadable and vanished storage."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS, Server, raw_http, wait_for
from tests.support import PYTHON, ServerProcess, free_port

PROBLEM = "application/problem+json"
SMALL, BIG = 3000, 300_000  # from memory (fast path) and sent by granian from its file
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def blob_path(storage: Path, digest: str) -> Path:
    algorithm = "sha256" if len(digest) == 64 else "sha1"
    return storage / algorithm / digest[:2] / digest


def metric(url: str, line_start: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(line_start + " ")
    )


def assert_500_problem(url: str, title: str, *, what: str) -> None:
    """Assert_500_problem checks GET, HEAD and ranged GETs of url all answer the problem."""
    for method, headers in [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"Range": "bytes=0-"}),
        ("GET", {"Range": "bytes=0-9"}),
        ("GET", {"If-None-Match": '"other"'}),
    ]:
        r = requests.request(method, url, headers=headers, timeout=10)
        assert r.status_code == 500, (what, method, headers, r.content[:100])
        assert r.headers["Content-Type"] == PROBLEM, (what, method, headers)
        assert "ETag" not in r.headers and "Content-Range" not in r.headers
        if method == "GET":
            problem = json.loads(r.content)
            assert (problem["status"], problem["title"]) == (500, title), problem
            assert r.headers["Content-Length"] == str(len(r.content))
        else:
            assert r.content == b""


@pytest.mark.parametrize("size", [SMALL, BIG])
def test_a_file_of_another_size_is_a_500_and_a_reupload_repairs_it(
    shared: Server, size: int
) -> None:
    data = os.urandom(size)
    sha256, sha1 = hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha1}", data=data, timeout=10).status_code == 201
    stored = blob_path(shared.storage, sha256)
    before = metric(shared.url, 'cas_blob_read_errors_total{reason="size"}')
    os.truncate(stored, 100)  # the SHA-1 link is the same file: damaged too
    for name in (sha256, sha1):
        assert_500_problem(f"{shared.url}/cas/{name}", "Stored blob damaged", what=name)
    assert wait_for(
        lambda: metric(shared.url, 'cas_blob_read_errors_total{reason="size"}') >= before + 10
    )

    # A verified re-upload replaces the damaged file (and its SHA-1 link) atomically.
    put = requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10)
    assert (put.status_code, put.json()) == (201, {"digest": sha256, "size": size})
    for name in (sha256, sha1):
        assert blob_path(shared.storage, name).read_bytes() == data
        got = requests.get(f"{shared.url}/cas/{name}", timeout=10)
        assert (got.status_code, got.content) == (200, data)
        assert (got.headers["ETag"], got.headers["Content-Length"]) == (f'"{name}"', str(size))
    assert os.path.samefile(stored, blob_path(shared.storage, sha1))
    assert os.getxattr(stored, "user.cas.size") == str(size).encode()
    # An intact blob keeps today's answer: drained, 200, nothing rewritten.
    inode = os.stat(stored).st_ino
    again = requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10)
    assert (again.status_code, again.json()) == (200, {"digest": sha256, "size": size})
    assert os.stat(stored).st_ino == inode


def test_a_repair_by_post_mends_the_sha1_link_and_counts_a_replacement(shared: Server) -> None:
    data = os.urandom(SMALL)
    sha256, sha1 = hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha1}", data=data, timeout=10).status_code == 201
    os.truncate(blob_path(shared.storage, sha256), 100)  # the SHA-1 link is the same file

    def gauges() -> tuple[float, float]:
        return metric(shared.url, "cas_storage_blobs"), metric(shared.url, "cas_storage_bytes")

    blobs, nbytes = gauges()
    post = requests.post(f"{shared.url}/cas", data=data, timeout=10)
    assert (post.status_code, post.json()) == (201, {"digest": sha256, "size": SMALL})
    for name in (sha256, sha1):  # both names: the repaired file, as a PUT's repair leaves them
        assert blob_path(shared.storage, name).read_bytes() == data
        got = requests.get(f"{shared.url}/cas/{name}", timeout=10)
        assert (got.status_code, got.content) == (200, data)
    # A replacement: no new blob, and the bytes grow by what the repair added.
    assert wait_for(lambda: gauges() == (blobs, nbytes + SMALL - 100), 5), (gauges(), blobs, nbytes)


@pytest.mark.parametrize("size", [SMALL, BIG])
def test_good_bytes_with_a_wrong_recorded_size_are_repaired_by_upload_and_verify(
    shared: Server, size: int
) -> None:
    """A recorded size that lies about good bytes is refused, and both repairs mend it."""
    for repair in ("upload", "verify"):
        data = os.urandom(size)
        sha256 = hashlib.sha256(data).hexdigest()
        assert requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10).ok
        stored = blob_path(shared.storage, sha256)
        os.setxattr(stored, "user.cas.size", b"5")
        assert_500_problem(f"{shared.url}/cas/{sha256}", "Stored blob damaged", what=repair)
        if repair == "upload":
            put = requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10)
            assert (put.status_code, put.json()) == (201, {"digest": sha256, "size": size})
        else:
            argv = [PYTHON, "-m", "casserver", "verify", "--storage", str(shared.storage)]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "0 damaged" in done.stdout and "1 sizes recorded" in done.stdout
        assert os.getxattr(stored, "user.cas.size") == str(size).encode()
        assert stored.read_bytes() == data
        got = requests.get(f"{shared.url}/cas/{sha256}", timeout=10)
        assert (got.status_code, got.content) == (200, data)


@pytest.mark.parametrize("size", [SMALL, BIG])
def test_a_symlink_in_place_of_a_blob_is_a_500_and_a_reupload_replaces_it(
    shared: Server, size: int
) -> None:
    """A symlink (to bytes of the right size, with no recorded size) is never followed."""
    data, other = os.urandom(size), os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10).ok
    stored = blob_path(shared.storage, sha256)
    elsewhere = shared.storage.parent / f"elsewhere-{size}"
    elsewhere.write_bytes(other)
    stored.unlink()
    stored.symlink_to(elsewhere)
    assert_500_problem(f"{shared.url}/cas/{sha256}", "Stored blob unreadable", what="symlink")

    put = requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10)
    assert (put.status_code, put.json()) == (201, {"digest": sha256, "size": size})
    assert not stored.is_symlink() and stored.read_bytes() == data
    assert elsewhere.read_bytes() == other
    got = requests.get(f"{shared.url}/cas/{sha256}", timeout=10)
    assert (got.status_code, got.content) == (200, data)


def test_a_recorded_size_that_is_no_number_still_guards_the_file(shared: Server) -> None:
    """An attribute that is not a size is no reason to skip the check: 500, then repaired."""
    data = os.urandom(BIG)
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10).ok
    stored = blob_path(shared.storage, sha256)
    os.setxattr(stored, "user.cas.size", b"abc")
    os.truncate(stored, BIG - 1000)  # still over what is read whole: only the size tells
    assert_500_problem(f"{shared.url}/cas/{sha256}", "Stored blob damaged", what="no number")
    put = requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10)
    assert (put.status_code, put.json()) == (201, {"digest": sha256, "size": BIG})
    assert os.getxattr(stored, "user.cas.size") == str(BIG).encode()
    got = requests.get(f"{shared.url}/cas/{sha256}", timeout=10)
    assert (got.status_code, got.content) == (200, data)


def test_a_same_size_change_is_caught_on_its_way_into_memory(shared: Server) -> None:
    if shared.server != "granian":
        pytest.skip("only granian keeps blobs in memory; a same-size change is verify's job")
    data = os.urandom(SMALL)
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10).status_code == 201
    stored = blob_path(shared.storage, sha256)
    with open(stored, "r+b") as f:  # one bit flipped, the size as committed
        f.seek(1234)
        f.write(bytes([data[1234] ^ 1]))
    r = requests.get(f"{shared.url}/cas/{sha256}", timeout=10)
    assert (r.status_code, r.headers["Content-Type"]) == (500, PROBLEM)
    assert json.loads(r.content)["title"] == "Stored blob damaged"
    assert wait_for(lambda: metric(shared.url, 'cas_blob_read_errors_total{reason="hash"}') >= 1)


def test_duplicate_header_lines_are_read_one_way(shared: Server) -> None:
    data = os.urandom(SMALL)
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{shared.url}/cas/{sha256}", data=data, timeout=10).status_code == 201
    head = f"GET /cas/{sha256} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    for _ in range(3):  # from the file, then from memory
        # If-None-Match is a list: any line's tag matches.
        reply = raw_http(
            shared.port,
            (head + f'If-None-Match: "other"\r\nIf-None-Match: "{sha256}"\r\n\r\n').encode(),
        )
        assert (reply.status, reply.body, reply.headers["etag"]) == (304, b"", f'"{sha256}"')
        # Two Range lines are no valid range: the whole blob.
        reply = raw_http(
            shared.port, (head + "Range: bytes=0-1\r\nRange: bytes=5-6\r\n\r\n").encode()
        )
        assert (reply.status, reply.body) == (200, data)
        assert "content-range" not in reply.headers


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """Nobody_dir is a directory the user nobody may write (pytest's tmp is root's only)."""
    path = Path(
        subprocess.check_output(["mktemp", "-d", "/tmp/cas-nobody-XXXXXX"], text=True).strip()
    )
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("http_server", SERVERS)
def test_unreadable_blobs_are_500_without_cap_dac_override(
    nobody_dir: Path, tmp_path: Path, http_server: str
) -> None:
    port = free_port()
    storage = nobody_dir / "cas-data"
    argv = [*AS_NOBODY, PYTHON, "-m", "casserver", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--storage", str(storage), "--workers", "1", "--server", http_server]
    proc = ServerProcess(
        argv, base_url=f"http://127.0.0.1:{port}", log_path=tmp_path / "casserver.log",
        env={"TMPDIR": str(nobody_dir)},
    )  # fmt: skip
    proc.start()
    try:
        for size in (BIG, SMALL):  # big ones got granian's plain-text 404, HEAD a 200
            data = os.urandom(size)
            sha256 = hashlib.sha256(data).hexdigest()
            url = f"{proc.base_url}/cas/{sha256}"
            assert requests.put(url, data=data, timeout=10).status_code == 201
            os.chmod(blob_path(storage, sha256), 0)
            assert_500_problem(url, "Stored blob unreadable", what=f"{size} bytes")
            os.chmod(blob_path(storage, sha256), 0o644)
            assert requests.get(url, timeout=10).content == data
        assert metric(proc.base_url, 'cas_blob_read_errors_total{reason="unreadable"}') >= 10
    finally:
        proc.stop()


@pytest.mark.parametrize("http_server", SERVERS)
def test_wiped_storage_recovers_and_failing_writes_show(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    storage = tmp_path / "cas-data"
    server = casserver(storage=storage, workers=1, server=http_server)
    url = server.base_url

    def put(data: bytes) -> requests.Response:
        return requests.put(f"{url}/cas/{hashlib.sha256(data).hexdigest()}", data=data, timeout=10)

    assert put(b"before").status_code == 201
    shutil.rmtree(storage)
    assert requests.get(f"{url}/readyz", timeout=10).status_code == 503  # nothing to serve
    assert put(b"while gone").status_code == 500
    storage.mkdir()  # an empty volume is back: writes recover by themselves
    assert put(b"after").status_code == 201
    assert requests.get(f"{url}/readyz", timeout=10).json() == {"status": "ready", "writes": "ok"}

    # Writes fail while reads still work: ready (200), and the body, a metric and a log say so.
    shutil.rmtree(storage / "tmp")
    (storage / "tmp").write_bytes(b"not a directory")
    assert put(b"refused").status_code == 500
    ready = requests.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and "not writable" in ready.json()["writes"]
    assert metric(url, "cas_storage_writable") == 0
    got = requests.get(f"{url}/cas/{hashlib.sha256(b'after').hexdigest()}", timeout=10)
    assert (got.status_code, got.content) == (200, b"after")
    (storage / "tmp").unlink()
    assert put(b"recovered").status_code == 201
    assert metric(url, "cas_storage_writable") == 1
    server.stop()
    messages = [json.loads(line).get("message") for line in server.log_tail(400).splitlines()]
    assert "storage writes failing" in messages and "storage writes recovered" in messages


@pytest.mark.parametrize("http_server", SERVERS)
def test_an_unusable_storage_path_is_one_line_and_exit_2(
    nobody_dir: Path, http_server: str
) -> None:
    regular = nobody_dir / "file"
    regular.write_bytes(b"")
    for prefix, storage, why in [
        ([], regular, "Not a directory"),
        (AS_NOBODY, Path("/usr/cas-data-test"), "Permission denied"),
    ]:
        argv = [*prefix, PYTHON, "-m", "casserver", "--port", str(free_port())]
        argv += ["--storage", str(storage), "--server", http_server]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TMPDIR": str(nobody_dir)},
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"casserver: unusable storage path {storage}: {why}\n"
        assert not Path("/usr/cas-data-test").exists()


def test_granian_and_gunicorn_answer_log_and_count_alike(
    casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    # The differential test against the real servers: granian's fast path and Falcon
    # under gunicorn must agree on status, headers, bytes, the access log and the metrics.
    read = "read-token-1"
    env = {"CAS_ACCESS_LOG": "1", "CAS_READ_TOKEN": read}
    servers = {
        name: casserver(storage=tmp_path / name, workers=1, server=name, env=env)
        for name in SERVERS
    }
    data = os.urandom(SMALL)
    sha256 = hashlib.sha256(data).hexdigest()
    damaged = os.urandom(BIG)
    damaged_digest = hashlib.sha256(damaged).hexdigest()
    for name, server in servers.items():
        for blob, digest in ((data, sha256), (damaged, damaged_digest)):
            r = requests.put(f"{server.base_url}/cas/{digest}", data=blob, timeout=10)
            assert r.status_code == 201
        os.truncate(blob_path(tmp_path / name, damaged_digest), 10)
    auth = f"Authorization: Bearer {read}\r\n"
    tag = f'"{sha256}"'
    asks = [
        ("GET", sha256, auth),
        ("GET", sha256, ""),  # no read token: 401
        ("HEAD", sha256, "Authorization: Bearer wrong\r\n"),
        ("GET", sha256, auth + 'If-None-Match: "other"\r\n'),
        ("GET", sha256, auth + f"If-None-Match: {tag}\r\n"),
        ("HEAD", sha256, auth + f'If-None-Match: "other"\r\nIf-None-Match: {tag}\r\n'),
        ("GET", sha256, auth + "Range: bytes=10-19\r\n"),
        ("GET", sha256, auth + "Range: bytes=0-1\r\nRange: bytes=5-6\r\n"),
        ("GET", sha256, auth + f'Range: bytes=10-19\r\nIf-Range: "x"\r\nIf-Range: {tag}\r\n'),
        ("GET", sha256, auth + f"Range: bytes={SMALL}-\r\n"),  # 416
        ("GET", "0" * 64, auth),  # 404
        ("GET", damaged_digest, auth),
        ("HEAD", damaged_digest, auth),
    ]
    answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    for name, server in servers.items():
        port = int(server.base_url.rsplit(":", 1)[1])
        answers[name] = []
        for method, digest, extra in asks:
            request = (
                f"{method} /cas/{digest} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
            )
            reply = raw_http(port, request.encode())
            headers = {
                k: v
                for k, v in reply.headers.items()
                if k not in ("date", "server", "connection", "vary")
            }
            answers[name].append((reply.status, headers, reply.body))
    for ask, granian, gunicorn in zip(asks, answers["granian"], answers["gunicorn"], strict=True):
        assert granian == gunicorn, ask
    statuses = [status for status, _, _ in answers["granian"]]
    assert statuses == [200, 401, 401, 200, 304, 304, 206, 200, 200, 416, 404, 500, 500]

    def counted(server: ServerProcess) -> dict[str, float]:
        text = requests.get(f"{server.base_url}/metrics", timeout=10).text
        # The fast path makes its label sets up front: a zero is no difference.
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if not line.endswith(" 0.0")
            if line.startswith("cas_http_requests_total{")
            and 'route="/cas/{digest}"' in line
            and 'method="PUT"' not in line
        }

    assert wait_for(lambda: counted(servers["granian"]) == counted(servers["gunicorn"])), (
        counted(servers["granian"]),
        counted(servers["gunicorn"]),
    )
    logged = {}
    for name, server in servers.items():
        server.stop()
        records = [json.loads(line) for line in server.log_path.read_text().splitlines() if line]
        logged[name] = [
            (r["method"], r["status"])
            for r in records
            if r.get("logger") in ("casserver.access", "gunicorn.access")
            and r.get("method") in ("GET", "HEAD")
            and r.get("path", "").startswith("/cas/")
        ]
    wanted = [(method, status) for (method, _, _), status in zip(asks, statuses, strict=True)]
    assert logged["granian"] == logged["gunicorn"] == wanted
