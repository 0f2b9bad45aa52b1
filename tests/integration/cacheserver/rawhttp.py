"""A raw-socket HTTP/1.1 client that keeps exactly what arrived: no retries, no decoding."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """RawAnswer is what one request got before the server closed (or the deadline passed)."""

    status: int  # 0: no status line arrived
    headers: dict[str, str]  # lowercased names
    body: bytes  # every byte after the header block (Content-Length bodies only)

    @property
    def length(self) -> int | None:
        """Length is the answer's Content-Length (None: none)."""
        value = self.headers.get("content-length")
        return int(value) if value is not None else None

    @property
    def complete(self) -> bool:
        """Complete: the whole Content-Length body arrived, so a client would take it whole."""
        return self.length is not None and len(self.body) >= self.length

    def problem(self) -> dict[str, Any]:
        """Problem is the problem+json body of an error answer."""
        assert self.headers.get("content-type") == "application/problem+json", self.headers
        result: dict[str, Any] = json.loads(self.body)
        return result


def raw_get(
    host: str, port: int, path: str, headers: dict[str, str] | None = None,
    *, method: str = "GET", deadline_s: float = 20.0,
) -> RawAnswer:  # fmt: skip
    """Raw_get sends one request with Connection: close and reads until the server closes."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return raw_exchange(host, port, request, deadline_s=deadline_s)


def raw_exchange(host: str, port: int, data: bytes, *, deadline_s: float = 20.0) -> RawAnswer:
    """Raw_exchange sends data as it is (a request or a part of one) and reads until the close."""
    with socket.create_connection((host, port), timeout=deadline_s) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may refuse before it has read all: its answer is what counts
        return read_answer(sock, deadline_s)


def read_answer(sock: socket.socket, deadline_s: float) -> RawAnswer:
    """Read_answer reads from sock until the server closes it or deadline_s pass."""
    data = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:  # bounded by the deadline; each recv by the timeout
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return RawAnswer(0, {}, b"")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), parsed, body)
