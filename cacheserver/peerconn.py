"""One peer-port connection: httptools parsing, idle and header timers, HTTP/1.1 answers."""

from __future__ import annotations

import asyncio
from typing import Final, Protocol, cast

import httptools

from cacheserver.errors import RETRY_AFTER_S, LoadError, Overloaded, status_of
from cacheserver.upstream import ORIGIN_ERROR_HEADER
from cascommon.blobheaders import OCTET_STREAM
from cascommon.problem import PROBLEM_JSON, problem_body

REASONS: Final = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class Owner(Protocol):
    """Owner is what a connection needs of its server: the loop, timeouts and the router."""

    loop: asyncio.AbstractEventLoop
    header_timeout_s: float
    idle_timeout_s: float

    def route(self, conn: Connection, method: bytes, url: bytes, auth: bytes) -> None: ...


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Head renders a status line and headers."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection(asyncio.Protocol):
    """Connection parses requests with httptools and times out idle and slow clients."""

    def __init__(self, server: Owner) -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.auth = b""
        self.started = False
        self.answering = False
        self.keep_alive = True
        self.timer: asyncio.TimerHandle | None = None
        self.drained = asyncio.Event()
        self.drained.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._arm(self.server.idle_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        self.transport = None
        self.drained.set()

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def _arm(self, timeout_s: float | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None if timeout_s is None else self.loop.call_later(timeout_s, self.abort)

    def data_received(self, data: bytes) -> None:
        if not self.started:
            self.started = True
            self._arm(self.server.header_timeout_s)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.problem(400, "Bad Request", "upgrades are not served", close=True)
        except httptools.HttpParserError:
            self.problem(400, "Bad Request", "malformed request", close=True)

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self.auth = value

    def on_message_complete(self) -> None:
        # The header timer runs until the whole request is in: a trickled body is slow too.
        self._arm(None)
        if self.transport is None:
            return
        if self.answering:
            # A pipelined request parsed from the same read: members never pipeline,
            # and two answers at once would interleave on the connection.
            self.abort()
            return
        self.answering = True
        self.transport.pause_reading()  # one request at a time
        self.keep_alive = bool(self.parser.should_keep_alive())
        method = self.parser.get_method()
        url, auth = self.url, self.auth
        self.url, self.auth = b"", b""
        self.server.route(self, method, url, auth)

    # answers, called on the loop
    def whole(self, value: bytes) -> None:
        """Whole sends a 200 with the value."""
        self.send(head(200, [("Content-Type", OCTET_STREAM), ("Content-Length", str(len(value)))]))
        self.send(value)
        self.finish()

    def problem(self, status: int, title: str, detail: str, *, close: bool = False,
                headers: list[tuple[str, str]] | None = None) -> None:  # fmt: skip
        """Problem sends a problem+json error."""
        body = problem_body(status, title, detail)
        extra = [("Connection", "close")] if close else []
        length = ("Content-Length", str(len(body)))
        self.send(head(status, [("Content-Type", PROBLEM_JSON), length, *(headers or []), *extra]))
        self.send(body)
        if close:
            self.keep_alive = False
        self.finish()

    def load_error(self, ex: LoadError) -> None:
        """Load_error answers a failed load; anything but overload was the origin's failure."""
        status, detail = status_of(ex)
        if isinstance(ex, Overloaded):
            extra = [("Retry-After", str(RETRY_AFTER_S))]
        else:
            extra = [(ORIGIN_ERROR_HEADER, "1")]
        self.problem(status, REASONS.get(status, "Error"), detail, headers=extra)

    def stream_head(self, length: int | None) -> bytes:
        """Stream_head is the head of a streamed 200: its length, or chunked."""
        size = ("Content-Length", str(length)) if length is not None else None
        return head(200, [("Content-Type", OCTET_STREAM), size or ("Transfer-Encoding", "chunked")])

    @staticmethod
    def chunked(data: bytes) -> bytes:
        """Chunked frames data as one HTTP/1.1 chunk."""
        return b"%x\r\n%b\r\n" % (len(data), data)

    def send(self, data: bytes) -> None:
        if self.transport is not None and data:
            self.transport.write(data)

    def send_threadsafe(self, data: bytes) -> None:
        """Send_threadsafe writes from a pool thread and waits until the buffer drains."""
        asyncio.run_coroutine_threadsafe(self._send_drained(data), self.loop).result(
            self.server.idle_timeout_s
        )

    async def _send_drained(self, data: bytes) -> None:
        if self.transport is None:
            raise ConnectionError("peer went away")
        self.transport.write(data)
        await self.drained.wait()

    def finish(self) -> None:
        """Finish ends a response: keep the connection for the next request or close it."""
        self.answering = False
        if self.transport is None:
            return
        if not self.keep_alive:
            self.transport.close()
            return
        self.started = False
        self._arm(self.server.idle_timeout_s)
        self.transport.resume_reading()

    def abort(self) -> None:
        """Abort drops the connection at once (a timeout, or a stream cut short)."""
        if self.transport is not None:
            self.transport.abort()
