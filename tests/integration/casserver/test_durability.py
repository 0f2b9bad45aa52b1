"""Crashes and dropped clients never leave a partial blob; restarts serve what was committed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS, files, temp_files, wait_for
from tests.support import ServerProcess


def start_partial_upload(port: int, data: bytes) -> socket.socket:
    """Start_partial_upload announces data, sends half of it and keeps the socket open."""
    sha256 = hashlib.sha256(data).hexdigest()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"PUT /cas/{sha256} HTTP/1.1\r\nHost: cas\r\nContent-Length: {len(data)}\r\n\r\n"
    s.sendall(head.encode() + data[: len(data) // 2])
    return s


def read_reply(s: socket.socket) -> bytes:
    """Read_reply reads one whole HTTP response: headers, then Content-Length body bytes.

    A single recv may return the headers alone, so keep reading until the body is in
    or the server closes the connection.
    """
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = s.recv(65536)
        if not chunk:
            return reply
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
         if line.lower().startswith(b"content-length:")),
        0,
    )  # fmt: skip
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("http_server", SERVERS)
def test_client_killed_mid_upload_leaves_nothing(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    storage = tmp_path / "store"
    server = casserver(storage=storage, server=http_server)
    port = int(server.base_url.rsplit(":", 1)[1])
    data = os.urandom(2 << 20)
    s = start_partial_upload(port, data)
    assert wait_for(lambda: bool(temp_files(storage))), "the upload never reached a temp file"
    # Abort like a killed process: RST instead of a polite FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert wait_for(lambda: files(storage) == set()), files(storage)
    sha256 = hashlib.sha256(data).hexdigest()
    assert requests.get(f"{server.base_url}/cas/{sha256}", timeout=5).status_code == 404
    # The server is fine afterwards and takes the same blob whole.
    assert requests.put(f"{server.base_url}/cas/{sha256}", data=data, timeout=10).status_code == 201


@pytest.mark.parametrize("http_server", SERVERS)
def test_sigkill_mid_upload_then_restart_serves_only_committed_blobs(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    storage = tmp_path / "store"
    server = casserver(storage=storage, server=http_server)
    committed = {}
    for i in range(5):
        data = os.urandom(10_000 * (i + 1))
        sha1 = hashlib.sha1(data).hexdigest()
        r = requests.put(f"{server.base_url}/cas/{sha1}", files={"file": data}, timeout=10)
        assert r.status_code == 201
        committed[sha1] = data
    partial = os.urandom(3 << 20)
    port = int(server.base_url.rsplit(":", 1)[1])
    s = start_partial_upload(port, partial)
    assert wait_for(lambda: bool(temp_files(storage)))
    server.signal(signal.SIGKILL)
    assert server.proc is not None
    server.proc.wait(10)
    s.close()
    assert temp_files(storage), "the crash should have left the temp file behind"

    restarted = casserver(storage=storage, server=http_server)
    assert temp_files(storage) == set()
    for name, data in committed.items():
        got = requests.get(f"{restarted.base_url}/cas/{name}", timeout=10)
        assert (got.status_code, got.content) == (200, data)
    partial_sha256 = hashlib.sha256(partial).hexdigest()
    assert requests.head(f"{restarted.base_url}/cas/{partial_sha256}", timeout=5).status_code == 404
    assert len([f for f in files(storage) if f.startswith("sha256/")]) == len(committed)
    ready = [
        json.loads(line)
        for line in restarted.log_path.read_text().splitlines()
        if '"storage ready"' in line
    ]
    assert ready[-1]["swept_temp"] == 1 and ready[-1]["blobs"] == len(committed)


@pytest.mark.parametrize("http_server", SERVERS)
def test_a_stalled_upload_times_out_and_leaves_nothing(
    casserver: Callable[..., ServerProcess], tmp_path: Path, http_server: str
) -> None:
    storage = tmp_path / "store"
    server = casserver(storage=storage, env={"CAS_BODY_TIMEOUT_S": "0.5"}, server=http_server)
    port = int(server.base_url.rsplit(":", 1)[1])
    with start_partial_upload(port, os.urandom(100_000)) as s:
        s.settimeout(10)
        reply = read_reply(s)  # the server answers without waiting for the rest
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"Truncated upload body" in reply
    assert wait_for(lambda: files(storage) == set())
