"""The peer listener bounds what a client may send before its headers end, and its connections.

Against a real member with a peer token: an endless request line is a 414, a huge header or
header block a 431, a request without the token a 403 as soon as its headers are in (not
after a body that never comes), and a connection past CACHE_PEER_MAX_CONNECTIONS a 503; each
a problem+json and a close. Members' own requests are still answered.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.integration.cacheserver.conftest import MEMBER_ENV
from tests.integration.cacheserver.rawhttp import RawAnswer, raw_exchange, read_answer
from tests.support import PYTHON, ServerProcess, cacheserver_argv, free_port

TOKEN = "peer-s3cret"
MAX_CONNECTIONS = 4
HOST = "127.0.0.1"


class Member:
    def __init__(self, proc: ServerProcess, peer_port: int, digest: str, data: bytes) -> None:
        self.proc, self.peer_port, self.digest, self.data = proc, peer_port, digest, data

    def request(self, extra: str = "") -> bytes:
        return (
            f"GET /_groupcache/cas/{self.digest} HTTP/1.1\r\nHost: m\r\n"
            f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n"
        ).encode()


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    # One member for the module: each test leaves no connection open behind it.
    work = tmp_path_factory.mktemp("peer-limits")
    origin_port, port, peer_port = free_port(), free_port(), free_port()
    origin = ServerProcess(
        [PYTHON, "-m", "casserver", "--host", HOST, "--port", str(origin_port),
         "--storage", str(work / "cas-data"), "--workers", "1"],
        base_url=f"http://{HOST}:{origin_port}", log_path=work / "casserver.log",
        env={"TMPDIR": str(work)},
    )  # fmt: skip
    env = {**MEMBER_ENV, "CACHE_PEER_TOKEN": TOKEN,
           "CACHE_PEER_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}  # fmt: skip
    argv = cacheserver_argv(port=port, peer_port=peer_port, origin=origin.base_url)
    proc = ServerProcess(argv, base_url=f"http://{HOST}:{port}", log_path=work / "m.log", env=env)
    try:
        origin.start()
        proc.start()
        data = os.urandom(3000)
        digest = hashlib.sha256(data).hexdigest()
        put = requests.put(f"{origin.base_url}/cas/{digest}", data=data, timeout=30)
        assert put.status_code == 201
        yield Member(proc, peer_port, digest, data)
    finally:
        proc.stop()
        origin.stop()


def assert_refused(answer: RawAnswer, status: int, detail: str) -> None:
    assert answer.status == status, (answer.status, answer.headers)
    assert answer.headers["connection"] == "close" and answer.complete
    assert answer.headers["content-length"] == str(len(answer.body))
    problem = answer.problem()
    assert problem["status"] == status and detail in problem["detail"], problem


def test_an_endless_request_line_is_a_414_and_a_close(member: Member) -> None:
    answer = raw_exchange(HOST, member.peer_port, b"GET /_groupcache/cas/" + b"a" * 100_000)
    assert_refused(answer, 414, "request line over 2048 bytes")


def test_a_huge_header_is_a_431_and_a_close(member: Member) -> None:
    answer = raw_exchange(HOST, member.peer_port, member.request(f"X-Big: {'b' * 5000}\r\n"))
    assert_refused(answer, 431, "a header over 4096 bytes")
    endless = member.request()[:-2] + b"X-Endless: " + b"c" * 100_000
    assert_refused(raw_exchange(HOST, member.peer_port, endless), 431, "over 8192 bytes")


def test_a_huge_header_block_is_a_431_and_a_close(member: Member) -> None:
    many = "".join(f"X-H{i}: {'d' * 1000}\r\n" for i in range(12))
    answer = raw_exchange(HOST, member.peer_port, member.request(many))
    assert_refused(answer, 431, "request line and headers over 8192 bytes")


@pytest.mark.timing
def test_the_token_is_checked_as_soon_as_the_headers_are_in(member: Member) -> None:
    # A body is announced and never sent: the answer must not wait for it.
    head = f"GET /_groupcache/cas/{member.digest} HTTP/1.1\r\nHost: m\r\nContent-Length: 9\r\n\r\n"
    began = time.monotonic()
    answer = raw_exchange(HOST, member.peer_port, head.encode(), deadline_s=5)
    assert_refused(answer, 403, "a member's peer token is required")
    assert time.monotonic() - began < 4  # long before the header timeout (10 s) closed it


def test_connections_past_the_limit_get_503_and_a_member_still_gets_its_blob(
    member: Member,
) -> None:
    idle = [socket.create_connection((HOST, member.peer_port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)  # let the listener take them all
        with socket.create_connection((HOST, member.peer_port), timeout=5) as extra:
            answer = read_answer(extra, 5)
        assert_refused(answer, 503, "too many connections")
        assert answer.headers["retry-after"] == "1"
        idle.pop().close()
        time.sleep(0.2)
        answer = raw_exchange(HOST, member.peer_port, member.request("Connection: close\r\n"))
        assert answer.status == 200 and answer.body == member.data and answer.complete
    finally:
        for sock in idle:
            sock.close()
