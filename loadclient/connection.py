"""One keep-alive HTTP/1.1 connection: writes a GET, parses the answer with httptools, checks it.

The body is checked in the bytes as they were read, without httptools' on_body callback: that
callback copies every body chunk into a new bytes object, which at 25 KB costs more than all
the rest of a request's Python work. httptools still parses status, headers and framing; the
body is where the header block ends (or the whole read, once the headers are in).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, cast

import httptools

from loadclient.exchange import Exchange
from loadclient.response import HEAD_END, Framer, interim, skip_interim
from loadclient.result import PROTOCOL

_MAX_HEAD_BYTES = 64 * 1024  # a warm-up answer's header block longer than this is garbage


class Owner(Protocol):
    """Owner is what a connection reports to: every exchange ends in exactly one of these calls."""

    def completed(self, conn: Connection, ex: Exchange, done_ns: int, keep_alive: bool) -> None:
        """Completed: a whole response to ex is in."""

    def failed(self, conn: Connection, ex: Exchange, kind: str, error: str) -> None:
        """Failed: ex can get no answer on conn (which is then gone)."""

    def retry(self, conn: Connection, ex: Exchange) -> None:
        """Retry: conn, a reused keep-alive connection, closed before any answer to ex."""

    def lost_idle(self, conn: Connection) -> None:
        """Lost_idle: conn closed while it carried no exchange."""


class ReadBuffer:
    """ReadBuffer is where the event loop reads responses, shared by all of a loop's connections.

    Reading into one buffer saves allocating and copying a bytes object per read. Sharing it
    is safe: the loop fills it for one connection and that connection consumes it (parsed and
    checked, nothing kept) before the loop reads for another.
    """

    def __init__(self, size: int = 256 * 1024) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.framer = Framer()  # the answers' header blocks, read where they were read


class Connection(asyncio.BufferedProtocol):
    """Connection carries one exchange at a time and reports to its Owner."""

    def __init__(self, owner: Owner, reads: ReadBuffer) -> None:
        self.owner = owner
        self.reads = reads
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.end = 0  # bytes in reads.buf from the current read
        # Where in the current read the answer's header block starts: past interim answers.
        self.head_at = 0
        self.interim = False  # the parser is in a 1xx answer, which ends no exchange
        self.sends = 0
        self.closed = False
        self.lost = False  # the end of the connection was handled (once, whoever saw it first)
        self.warming: asyncio.Future[bytes] | None = None  # the warm-up HEAD's answer
        self.warm_head = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, ex: Exchange) -> None:
        """Send writes the request of ex; if the connection is gone, ex ends as if it closed now."""
        assert self.transport is not None
        self.exchange = ex
        self.sends += 1
        ex.sent_ns = time.monotonic_ns()
        if self.lost:
            self._end(None)
            return
        try:
            self.transport.write(ex.request)
        except (RuntimeError, OSError) as exc:
            # The server closed it between the connect and this write (uvloop: "handler is
            # closed"); connection_lost may still come, but the exchange ends here, once.
            self._end(exc if isinstance(exc, OSError) else None)
            self.close(abort=True)

    def warm(self, request: bytes) -> asyncio.Future[bytes]:
        """Warm writes request, whose answer has no body (a HEAD), and gets its header block.

        httptools cannot be told that an answer has no body (its on_headers_complete cannot
        skip it), so the warm-up's answer bypasses the parser, which stays fresh for the GETs.
        """
        assert self.transport is not None
        warming = self.warming = asyncio.get_running_loop().create_future()
        self.sends += 1  # the first GET reuses this connection: a close then is retried
        try:
            if self.lost:
                raise ConnectionError("connection closed before the HEAD was sent")
            self.transport.write(request)
        except (RuntimeError, OSError) as exc:
            self.warming = None
            warming.set_exception(ConnectionError(str(exc)))
            self.close(abort=True)
        return warming

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
        self.head_at = 0
        try:
            self.parser.feed_data(reads.view[:nbytes])
        except httptools.HttpParserError as exc:
            self.abort_with(PROTOCOL, f"invalid HTTP response: {exc}")
            return
        if ex is not None and not ex.in_body and ex is self.exchange:
            ex.head += reads.view[self.head_at : nbytes]  # the block continues in the next read

    def _warm_read(self, nbytes: int) -> None:
        head, warming = self.warm_head, self.warming
        assert warming is not None
        head += self.reads.view[:nbytes]
        del head[: skip_interim(head)]  # 100 Continue, 103 Early Hints: the answer follows
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
        reads, end, start = self.reads, self.end, self.head_at
        buf = reads.buf
        status = self.parser.get_status_code()
        if interim(status):
            self._interim(ex, start, end)
            return
        if ex.head:
            joined = ex.head + reads.view[start:end]
            offset, ex.cache, ex.chunked, ex.length = reads.framer.framing(joined, len(joined))
            offset += start - len(ex.head)
            ex.head = b""
        else:
            offset, ex.cache, ex.chunked, ex.length = reads.framer.framing(buf, end, start)
        ex.status = status
        ex.in_body = True
        ex.until_close = not ex.chunked and ex.length < 0
        ex.body(buf, self.reads.view, offset, end)

    def _interim(self, ex: Exchange, start: int, end: int) -> None:
        """_interim skips a 1xx answer's header block: the final answer's starts after it."""
        self.interim = True
        block = ex.head + self.reads.view[start:end] if ex.head else self.reads.buf[start:end]
        self.head_at = start + block.find(HEAD_END) + len(HEAD_END) - len(ex.head)
        ex.head = b""

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        done_ns = time.monotonic_ns()
        ex, self.exchange = self.exchange, None
        if ex is None:
            self.abort_with(PROTOCOL, "response without a request")
            return
        self.owner.completed(self, ex, done_ns, self.parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost:
            self._end(exc)

    def _end(self, exc: BaseException | None) -> None:
        # The one place a connection's end is turned into the end of its exchange.
        self.lost = True
        ex, self.exchange = self.exchange, None
        warming, self.warming = self.warming, None
        if warming is not None and not warming.done():
            why = f": {exc}" if exc else ""
            warming.set_exception(ConnectionError(f"connection closed before an answer{why}"))
        elif ex is None:
            self.owner.lost_idle(self)
        elif ex.in_body and ex.until_close and exc is None:
            # httptools cannot be told of the end of input: a clean close ends such a body.
            self.owner.completed(self, ex, time.monotonic_ns(), False)
        elif ex.bytes_in == 0 and ex.status == 0 and self.sends > 1 and not ex.retried:
            # The server closed a reused keep-alive connection as we wrote: not an answer,
            # so send it again on a fresh connection (Go's transport does the same).
            ex.retried = True
            self.owner.retry(self, ex)
        else:
            why = f": {exc}" if exc else ""
            self.owner.failed(self, ex, PROTOCOL, f"connection closed before a full response{why}")

    def abort_with(self, kind: str, error: str) -> None:
        """Abort_with fails the current request with kind and drops the connection."""
        ex, self.exchange = self.exchange, None
        if ex is not None:
            self.owner.failed(self, ex, kind, error)
        self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        """Close shuts the connection (abort: without flushing)."""
        if self.transport is not None and not self.closed:
            self.closed = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
