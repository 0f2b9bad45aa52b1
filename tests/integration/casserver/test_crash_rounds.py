"""SIGKILL of the whole casserver while 100 uploads are in flight loses nothing acknowledged.

Three rounds on one storage directory: start, send 100 uploads at once (some fast, some
trickling so they are mid-body at the kill), SIGKILL the process group once some have been
acknowledged, restart. Every 2xx blob must be there and verify, every visible file must hash
to its name, and the start-up sweep must leave the temp area empty.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import temp_files, wait_for
from tests.support import ServerProcess

UPLOADS = 100
ROUNDS = 3
SLOW_CHUNKS = 40  # a slow upload sends its body in this many pieces...
SLOW_PAUSE_S = 0.05  # ...this far apart: about 2 s mid-body, so the kill finds many there
ACKED_BEFORE_KILL = 10
# Answers that promise nothing: a server with bounded upload slots may refuse (503) or cut
# a body it finds too slow (408).
REFUSED = (408, 503)


@dataclass
class Upload:
    """Upload is one blob sent raw; status is the HTTP status, or None without an answer."""

    data: bytes
    slow: bool
    status: int | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def send(port: int, upload: Upload, acked: threading.Semaphore, stop: threading.Event) -> None:
    """Send PUTs upload.data with Content-Length, trickling it when slow, and records the status."""
    head = f"PUT /cas/{upload.sha256} HTTP/1.1\r\nHost: cas\r\n"
    head += f"Content-Length: {len(upload.data)}\r\nConnection: close\r\n\r\n"
    pieces = SLOW_CHUNKS if upload.slow else 1
    step = -(-len(upload.data) // pieces)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(head.encode())
            for i in range(0, len(upload.data), step):
                if stop.is_set():
                    return
                s.sendall(upload.data[i : i + step])
                if upload.slow:
                    time.sleep(SLOW_PAUSE_S)
            reply = s.recv(64)
    except OSError:
        return  # killed mid-request: no answer, so no promise was made
    if reply.startswith(b"HTTP/1.1 "):
        upload.status = int(reply.split()[1])
        if 200 <= upload.status < 300:
            acked.release()


def verify_storage(storage: Path) -> int:
    """Verify_storage hashes every visible blob file against its name and returns how many."""
    count = 0
    for algorithm in ("sha256", "sha1"):
        for path in (storage / algorithm).rglob("*"):
            if path.is_file():
                assert hashlib.new(algorithm, path.read_bytes()).hexdigest() == path.name, path
                count += 1
    return count


def run_round(server: ServerProcess, storage: Path, round_no: int) -> tuple[list[Upload], int]:
    """Run_round sends the uploads, kills the server mid-flight; returns them and temp files."""
    port = int(server.base_url.rsplit(":", 1)[1])
    uploads = [
        Upload(os.urandom(64_000 + 997 * i + round_no), slow=i % 2 == 0) for i in range(UPLOADS)
    ]
    acked = threading.Semaphore(0)
    stop = threading.Event()
    threads = [
        threading.Thread(target=send, args=(port, u, acked, stop), daemon=True) for u in uploads
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for _ in range(ACKED_BEFORE_KILL):
        assert acked.acquire(timeout=max(deadline - time.monotonic(), 0)), "too few uploads acked"
    # Kill while uploads are mid-body: their temp files are on disk.
    assert wait_for(lambda: bool(temp_files(storage)), 10), "no upload was in flight"
    server.signal(signal.SIGKILL)
    assert server.proc is not None
    server.proc.wait(10)
    left_behind = len(temp_files(storage))
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return uploads, left_behind


@pytest.mark.timeout(300)
def test_sigkill_with_100_uploads_in_flight_loses_nothing_acknowledged(
    casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    storage = tmp_path / "store"
    server = casserver(storage=storage)
    acknowledged: dict[str, bytes] = {}
    swept = 0
    for round_no in range(ROUNDS):
        uploads, left_behind = run_round(server, storage, round_no)
        swept += left_behind
        acknowledged |= {u.sha256: u.data for u in uploads if u.status in (200, 201)}
        statuses = [u.status for u in uploads]
        assert all(status in (None, 200, 201, *REFUSED) for status in statuses), statuses
        assert any(u.status is None for u in uploads), "the kill interrupted no upload"

        server = casserver(storage=storage)  # restart: the start-up sweep runs before it is up
        assert temp_files(storage) == set()
        with requests.Session() as http:
            for sha256, data in acknowledged.items():
                got = http.get(f"{server.base_url}/cas/{sha256}", timeout=10)
                assert (got.status_code, hashlib.sha256(got.content).hexdigest()) == (200, sha256)
                assert got.content == data
            for u in uploads:
                if u.status not in (200, 201):  # no promise: either absent or whole, never partial
                    got = http.get(f"{server.base_url}/cas/{u.sha256}", timeout=10)
                    assert got.status_code in (200, 404)
                    assert got.status_code == 404 or got.content == u.data
        assert verify_storage(storage) >= len(acknowledged)
    assert swept > 0, "no round left a temp file for the sweep to remove"
