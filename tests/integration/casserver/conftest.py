"""Helpers for casserver integration tests: a shared server, raw HTTP, storage snapshots."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import PYTHON, ServerProcess, free_port, is_lock

MAX_BLOB_BYTES = 4 << 20
SERVERS = ("granian", "gunicorn")


@dataclass
class Reply:
    """Reply is a parsed raw HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes


def raw_http(port: int, data: bytes, *, half_close: bool = False, timeout_s: float = 10) -> Reply:
    """Raw_http sends data as is on a fresh connection and reads the reply to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := s.recv(65536):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(lines[0].split()[1]), headers, body)


def files(root: Path) -> set[str]:
    """Files lists every file under root, relative, blobs and temp files alike.

    A live process's workspace lock (tmp/<owner>.lock) holds no data and is left out.
    """
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not is_lock(p)
    }


def temp_files(storage: Path) -> set[str]:
    """Temp_files is files() under tmp/: uploads in progress or left behind."""
    return {name for name in files(storage) if name.startswith("tmp/")}


def wait_for(check: Callable[[], bool], deadline_s: float = 10) -> bool:
    """Wait_for polls check until it is true or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@dataclass
class Server:
    """Server is a running casserver and its storage directory."""

    proc: ServerProcess
    storage: Path
    port: int
    server: str

    @property
    def url(self) -> str:
        return self.proc.base_url


@pytest.fixture(scope="module", params=SERVERS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Shared is one casserver (2 workers, 4 MiB limit) per HTTP server for a module's tests."""
    server: str = request.param
    tmp = tmp_path_factory.mktemp(f"casserver-{server}")
    port = free_port()
    storage = tmp / "cas-data"
    argv = [PYTHON, "-m", "casserver", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--storage", str(storage), "--workers", "2", "--server", server]
    proc = ServerProcess(
        argv,
        base_url=f"http://127.0.0.1:{port}",
        log_path=tmp / "casserver.log",
        env={"CAS_MAX_BLOB_BYTES": str(MAX_BLOB_BYTES)},
    )
    proc.start()
    yield Server(proc, storage, port, server)
    proc.stop()
