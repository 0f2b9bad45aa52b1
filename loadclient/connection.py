"""One keep-alive HTTP/1.1 connection: writes a GET, parses the answer with httptools, checks it."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import TYPE_CHECKING, Any, cast

import httptools

from loadclient.metrics import INTEGRITY, PROTOCOL, STATUS

if TYPE_CHECKING:
    from loadclient.attacker import Attacker


class Exchange:
    """Exchange is one request and what came back; the body is checked while it streams in.

    With expect set (the hot blob, whose bytes were hashed to its digest before the attack)
    the body is compared with those bytes, chunk by chunk; otherwise it is hashed and the hash
    compared with the digest. Either way a body is accepted only if it hashes to the digest.
    """

    __slots__ = (
        "hit", "due_ns", "request", "digest", "expect", "hasher", "sent_ns", "status",
        "bytes_in", "pos", "mismatch", "cache", "retried",
    )  # fmt: skip

    def __init__(
        self, hit: int, due_ns: int, request: bytes, digest: str, expect: bytes | None
    ) -> None:
        self.hit = hit
        self.due_ns = due_ns
        self.request = request
        self.digest = digest
        self.expect = expect
        self.hasher = None if expect is not None else hashlib.sha256()
        self.sent_ns = 0
        self.status = 0
        self.bytes_in = 0
        self.pos = 0
        self.mismatch = False
        self.cache: bytes | None = None
        self.retried = False

    def body(self, chunk: bytes) -> None:
        """Body checks the next chunk of the response body."""
        self.bytes_in += len(chunk)
        if self.status != 200:
            return
        if self.expect is not None:
            # startswith(chunk, pos) is a memcmp in place: no copy, unlike slicing
            if not self.mismatch and not self.expect.startswith(chunk, self.pos):
                self.mismatch = True
            self.pos += len(chunk)
        else:
            assert self.hasher is not None
            self.hasher.update(chunk)

    def verdict(self) -> tuple[str | None, str]:
        """Verdict is (None, "") for a good answer, else (error kind, message or "")."""
        if self.status != 200:
            return STATUS, ""
        if self.expect is not None:
            ok = not self.mismatch and self.pos == len(self.expect)
        else:
            assert self.hasher is not None
            ok = self.hasher.hexdigest() == self.digest
        if ok:
            return None, ""
        return INTEGRITY, "200 OK with a body that does not match the digest"


class Connection(asyncio.Protocol):
    """Connection carries one exchange at a time and reports to its Attacker."""

    def __init__(self, attacker: Attacker) -> None:
        self.attacker = attacker
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.sends = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, ex: Exchange) -> None:
        """Send writes the request of ex."""
        assert self.transport is not None
        self.exchange = ex
        self.sends += 1
        ex.sent_ns = time.monotonic_ns()
        self.transport.write(ex.request)

    def started_ns(self) -> int:
        """Started_ns is when the current request was written (0 when idle)."""
        return self.exchange.sent_ns if self.exchange else 0

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort_with(PROTOCOL, f"invalid HTTP response: {exc}")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.exchange is not None and len(name) == 7 and name.lower() == b"x-cache":
            self.exchange.cache = value

    def on_headers_complete(self) -> None:
        if self.exchange is not None:
            self.exchange.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self.exchange is not None:
            self.exchange.body(body)

    def on_message_complete(self) -> None:
        done_ns = time.monotonic_ns()
        ex, self.exchange = self.exchange, None
        if ex is None:
            self.abort_with(PROTOCOL, "response without a request")
            return
        self.attacker.completed(self, ex, done_ns, self.parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex, self.exchange = self.exchange, None
        if ex is None:
            self.attacker.lost_idle(self)
        elif ex.bytes_in == 0 and ex.status == 0 and self.sends > 1 and not ex.retried:
            # The server closed a reused keep-alive connection as we wrote: not an answer,
            # so send it again on a fresh connection (Go's transport does the same).
            ex.retried = True
            self.attacker.retry(self, ex)
        else:
            why = f": {exc}" if exc else ""
            self.attacker.failed(
                self, ex, PROTOCOL, f"connection closed before a full response{why}"
            )

    def abort_with(self, kind: str, error: str) -> None:
        """Abort_with fails the current request with kind and drops the connection."""
        ex, self.exchange = self.exchange, None
        if ex is not None:
            self.attacker.failed(self, ex, kind, error)
        self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        """Close shuts the connection (abort: without flushing)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - httptools probes callbacks
        raise AttributeError(name)
