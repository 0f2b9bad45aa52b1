"""One keep-alive HTTP/1.1 connection: writes a GET, parses the answer with httptools, checks it.

The body is checked in the bytes as they were read, without httptools' on_body callback: that
callback copies every body chunk into a new bytes object, which at 25 KB costs more than all
the rest of a request's Python work. httptools still parses status, headers and framing; the
body is where the header block ends (or the whole read, once the headers are in).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

import httptools

from loadclient.exchange import HEAD_END, Exchange, header
from loadclient.metrics import PROTOCOL

_MAX_HEAD_BYTES = 64 * 1024  # a warm-up answer's header block longer than this is garbage

if TYPE_CHECKING:
    from loadclient.attacker import Attacker


class ReadBuffer:
    """ReadBuffer is where the event loop reads responses, shared by all of a loop's connections.

    Reading into one buffer saves allocating and copying a bytes object per read. Sharing it
    is safe: the loop fills it for one connection and that connection consumes it (parsed and
    checked, nothing kept) before the loop reads for another.
    """

    def __init__(self, size: int = 256 * 1024) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)


class Connection(asyncio.BufferedProtocol):
    """Connection carries one exchange at a time and reports to its Attacker."""

    def __init__(self, attacker: Attacker, reads: ReadBuffer) -> None:
        self.attacker = attacker
        self.reads = reads
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.end = 0  # bytes in reads.buf from the current read
        self.sends = 0
        self.closed = False
        self.warming: asyncio.Future[bytes] | None = None  # the warm-up HEAD's answer
        self.warm_head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, ex: Exchange) -> None:
        """Send writes the request of ex."""
        assert self.transport is not None
        self.exchange = ex
        self.sends += 1
        ex.sent_ns = time.monotonic_ns()
        self.transport.write(ex.request)

    def warm(self, request: bytes) -> asyncio.Future[bytes]:
        """Warm writes request, whose answer has no body (a HEAD), and gets its header block.

        httptools cannot be told that an answer has no body (its on_headers_complete cannot
        skip it), so the warm-up's answer bypasses the parser, which stays fresh for the GETs.
        """
        assert self.transport is not None
        self.warming = asyncio.get_running_loop().create_future()
        self.sends += 1  # the first GET reuses this connection: a close then is retried
        self.transport.write(request)
        return self.warming

    def started_ns(self) -> int:
        """Started_ns is when the current request was written (0 when idle)."""
        return self.exchange.sent_ns if self.exchange else 0

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.reads.view

    def buffer_updated(self, nbytes: int) -> None:
        reads = self.reads
        ex = self.exchange
        if ex is None and self.warming is not None:
            self._warm_read(nbytes)
            return
        if ex is not None and ex.in_body:
            ex.body(reads.buf, reads.view, 0, nbytes)  # before parsing: it may end the message
        self.end = nbytes
        try:
            self.parser.feed_data(reads.view[:nbytes])
        except httptools.HttpParserError as exc:
            self.abort_with(PROTOCOL, f"invalid HTTP response: {exc}")
            return
        if ex is not None and not ex.in_body and ex is self.exchange:
            ex.head += reads.view[:nbytes]  # the header block continues in the next read

    def _warm_read(self, nbytes: int) -> None:
        head, warming = self.warm_head, self.warming
        assert warming is not None
        head += self.reads.view[:nbytes]
        end = head.find(HEAD_END)
        if end < 0 and len(head) <= _MAX_HEAD_BYTES:
            return
        self.warming, self.warm_head = None, bytearray()
        if warming.done():  # cancelled: the warm-up timed out
            return
        if end < 0:
            warming.set_exception(ConnectionError("answer head too long"))
        elif end + len(HEAD_END) < len(head):
            warming.set_exception(ConnectionError("answer to HEAD has a body"))
        else:
            warming.set_result(bytes(head))

    def data_received(self, data: bytes) -> None:
        """Data_received feeds data as if the loop had read it (for tests and plain protocols)."""
        for start in range(0, len(data), len(self.reads.buf)):
            piece = data[start : start + len(self.reads.buf)]
            self.reads.buf[: len(piece)] = piece
            self.buffer_updated(len(piece))

    def on_headers_complete(self) -> None:
        ex = self.exchange
        if ex is None:
            return
        ex.status = self.parser.get_status_code()
        ex.in_body = True
        buf, end = self.reads.buf, self.end
        if ex.head:
            joined = ex.head + self.reads.view[:end]
            offset = joined.find(HEAD_END, max(0, len(ex.head) - 3)) + 4 - len(ex.head)
            block = joined[: len(ex.head) + offset].lower()
            ex.head = b""
        else:
            offset = buf.find(HEAD_END, 0, end) + 4
            block = bytes(self.reads.view[:offset]).lower()
        # Two headers matter; finding them in the block is cheaper than an on_header callback
        # for each of the ~8 headers of every response.
        ex.cache = header(block, b"\r\nx-cache:")
        chunked = header(block, b"\r\ntransfer-encoding:")
        ex.chunked = chunked is not None and b"chunked" in chunked
        length = None if ex.chunked else header(block, b"\r\ncontent-length:")
        ex.until_close = not ex.chunked and length is None
        ex.length = int(length) if length is not None and length.isdigit() else -1
        ex.body(buf, self.reads.view, offset, end)

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
        warming, self.warming = self.warming, None
        if warming is not None and not warming.done():
            why = f": {exc}" if exc else ""
            warming.set_exception(ConnectionError(f"connection closed before an answer{why}"))
        elif ex is None:
            self.attacker.lost_idle(self)
        elif ex.in_body and ex.until_close and exc is None:
            # httptools cannot be told of the end of input: a clean close ends such a body.
            self.attacker.completed(self, ex, time.monotonic_ns(), False)
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
