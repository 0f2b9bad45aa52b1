"""Two casservers on one storage directory, as replicas on a ReadWriteMany claim.

Uploads of the same and of different blobs go to both while one is killed and
restarted: its start-up sweep removes what it left, never the other's uploads.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import requests

from tests.integration.casserver.conftest import temp_files, wait_for
from tests.integration.casserver.test_crash_rounds import verify_storage
from tests.integration.casserver.test_durability import read_reply, start_partial_upload
from tests.support import ServerProcess, free_port

SHARED = [os.urandom(200_000 + i) for i in range(4)]  # uploaded by every thread to both
THREADS = 4
MAX_UPLOADS_PER_THREAD = 300


class Uploader:
    """Uploader PUTs blobs to two servers from several threads and records the answers."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.acknowledged: dict[str, bytes] = {}
        self.attempted: set[str] = set()
        self.refused: list[tuple[str, int]] = []  # a server answered, but not 200/201
        self.lock = threading.Lock()
        self.some_done = threading.Event()
        self.stop = threading.Event()

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def run(self, worker: int) -> None:
        with requests.Session() as session:
            for i in range(MAX_UPLOADS_PER_THREAD):
                if self.stop.is_set():
                    return
                data = SHARED[(i // 2) % len(SHARED)] if i % 2 else os.urandom(100_000 + worker)
                url = self.urls[(i + worker) % len(self.urls)]
                digest = hashlib.sha256(data).hexdigest()
                with self.lock:
                    self.attempted.add(digest)
                try:
                    r = session.put(f"{url}/cas/{digest}", data=data, timeout=10)
                except requests.RequestException:
                    continue  # the server being killed: not acknowledged, nothing promised
                with self.lock:
                    if r.status_code in (200, 201):
                        self.acknowledged[digest] = data
                    else:
                        self.refused.append((url, r.status_code))
                    if len(self.acknowledged) >= 8:
                        self.some_done.set()


def test_a_restarted_replica_sweeps_only_what_it_left(
    casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "shared"
    port_a = free_port()
    a = casserver(storage=storage, port=port_a)
    b = casserver(storage=storage)

    # An upload A will never finish, then one B is in the middle of while A restarts.
    dying = os.urandom(2 << 20)
    dying_socket = start_partial_upload(port_a, dying)
    assert wait_for(lambda: len(temp_files(storage)) == 1)
    left_by_a = temp_files(storage)
    live = os.urandom(2 << 20)
    live_socket = start_partial_upload(int(b.base_url.rsplit(":", 1)[1]), live)
    assert wait_for(lambda: len(temp_files(storage)) == 2)
    (live_temp,) = temp_files(storage) - left_by_a

    uploader = Uploader([a.base_url, b.base_url])
    threads = [threading.Thread(target=uploader.run, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    assert uploader.some_done.wait(30), "no upload was acknowledged"
    a.signal(signal.SIGKILL)
    assert a.proc is not None
    a.proc.wait(10)
    dying_socket.close()
    before = uploader.count()
    restarted = casserver(storage=storage, port=port_a)  # sweeps while B and the threads upload
    during = uploader.count() - before
    # Some more to both, after the restart, then stop.
    assert wait_for(lambda: uploader.count() >= before + during + 20, deadline_s=60)
    uploader.stop.set()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)

    # B's upload in progress survived A's sweep and completes.
    assert (storage / live_temp).exists()
    live_socket.sendall(live[len(live) // 2 :])
    assert read_reply(live_socket).startswith(b"HTTP/1.1 201")
    live_socket.close()
    uploader.acknowledged[hashlib.sha256(live).hexdigest()] = live

    # What the dead A left is gone; its partial blob never became visible.
    assert not (left_by_a & temp_files(storage))
    assert (
        requests.head(
            f"{b.base_url}/cas/{hashlib.sha256(dying).hexdigest()}", timeout=5
        ).status_code
        == 404
    )
    ready = [
        json.loads(line)
        for line in restarted.log_path.read_text().splitlines()
        if '"storage ready"' in line
    ]
    assert ready[-1]["swept_temp"] >= 1

    assert during > 0, "no upload was acknowledged while A restarted"
    assert uploader.refused == []
    assert {hashlib.sha256(d).hexdigest() for d in SHARED} <= set(uploader.acknowledged)
    for digest, data in uploader.acknowledged.items():
        for server in (restarted, b):
            got = requests.get(f"{server.base_url}/cas/{digest}", timeout=10)
            assert (got.status_code, got.content) == (200, data)
    # A SIGKILL can land between a blob's commit and its 201: such a blob is whole and
    # verifies, it was only never acknowledged. Every stored blob is one that was sent.
    assert verify_storage(storage) >= len(uploader.acknowledged)
    sha256_names = {p.name for p in (storage / "sha256").rglob("*") if p.is_file()}
    assert sha256_names <= uploader.attempted | set(uploader.acknowledged)
    assert wait_for(lambda: temp_files(storage) == set()), temp_files(storage)
