"""The action cache against real casserver workers: atomic overwrites, limits, HEAD, 404."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import files
from tests.integration.casserver.test_durability import read_reply
from tests.support import ServerProcess

LIMIT = 256 * 1024
KEY = hashlib.sha256(b"//pkg:target action").hexdigest()


@pytest.fixture
def server(casserver: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[ServerProcess]:
    yield casserver(storage=tmp_path / "data", workers=2, env={"CAS_MAX_AC_BYTES": str(LIMIT)})


def test_absent_is_404_then_put_get_head(server: ServerProcess) -> None:
    url = f"{server.base_url}/ac/{KEY}"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert requests.head(url, timeout=10).status_code == 404
    assert requests.put(url, data=b"result", timeout=10).status_code == 200
    got = requests.get(url, timeout=10)
    assert (got.status_code, got.content) == (200, b"result")
    head = requests.head(url, timeout=10)
    assert (head.status_code, head.headers["content-length"]) == (200, "6")


def test_size_limit_by_header_and_chunked(server: ServerProcess, tmp_path: Path) -> None:
    url = f"{server.base_url}/ac/{KEY}"
    over = b"x" * (LIMIT + 1)
    refused = requests.put(url, data=over, timeout=10)
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    chunked = requests.put(url, data=iter([over[:LIMIT], over[LIMIT:]]), timeout=10)
    assert chunked.status_code == 413
    assert requests.get(url, timeout=10).status_code == 404
    assert requests.put(url, data=over[:LIMIT], timeout=10).status_code == 200
    assert files(tmp_path / "data") == {f"ac/{KEY[:2]}/{KEY}"}


def test_a_reader_sees_the_old_value_until_a_slow_overwrite_completes(
    server: ServerProcess,
) -> None:
    url = f"{server.base_url}/ac/{KEY}"
    assert requests.put(url, data=b"old" * 1000, timeout=10).status_code == 200
    new = b"new" * 30000
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = f"PUT /ac/{KEY} HTTP/1.1\r\nHost: cas\r\nContent-Length: {len(new)}\r\n\r\n"
        s.sendall(head.encode() + new[: len(new) // 2])
        # Half of the new value is on the server: readers must still get the old one whole.
        for _ in range(5):
            assert requests.get(url, timeout=10).content == b"old" * 1000
        s.sendall(new[len(new) // 2 :])
        assert read_reply(s).startswith(b"HTTP/1.1 200")
    assert requests.get(url, timeout=10).content == new


def test_concurrent_writers_readers_never_see_a_torn_or_mixed_value(server: ServerProcess) -> None:
    url = f"{server.base_url}/ac/{KEY}"
    # Each writer's value is one byte repeated, with its own length: a torn read is short,
    # a mixed one holds two bytes.
    values = [bytes([0x41 + i]) * (LIMIT - 4096 * i) for i in range(6)]
    assert requests.put(url, data=values[0], timeout=10).status_code == 200
    rounds, reads = 8, 60
    start = threading.Barrier(len(values) + 2)
    bad: list[str] = []
    seen: set[bytes] = set()

    def write(value: bytes) -> None:
        with requests.Session() as session:
            start.wait(10)
            for _ in range(rounds):
                status = session.put(url, data=value, timeout=30).status_code
                if status != 200:
                    bad.append(f"PUT answered {status}")

    def read() -> None:
        with requests.Session() as session:
            start.wait(10)
            for _ in range(reads):
                got = session.get(url, timeout=30)
                if got.status_code != 200 or got.content not in values:
                    bad.append(
                        f"GET {got.status_code}: {len(got.content)} bytes {got.content[:2]!r}"
                    )
                seen.add(got.content[:1])

    threads = [threading.Thread(target=write, args=(v,)) for v in values]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert bad == []
    final = requests.get(url, timeout=10).content
    assert final in values
    assert len(seen) >= 1
