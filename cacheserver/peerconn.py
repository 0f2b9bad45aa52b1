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
                  405: "Method Not Allowed", 414: "URI Too Long",
                  431: "Request Header Fields Too Large", 500: "Internal Server Error",
                  502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout"}  # fmt: skip
# A member's request is one short line and two or three headers (~200 bytes). Bounds far
# above that, so that a stream of bytes before the end of the headers costs a bounded
# buffer: httptools hands the URL over in fragments and joins a header's own fragments.
MAX_URL_BYTES: Final = 2048
MAX_HEADER_BYTES: Final = 4096  # one header line's name and value
MAX_HEAD_BYTES: Final = 8192  # request line and header block together


class Owner(Protocol):
    """Owner is what a connection needs of its server: the loop, timeouts and the router."""

    loop: asyncio.AbstractEventLoop
    header_timeout_s: float
    idle_timeout_s: float

    def admit(self) -> bool:
        """Admit counts a new connection in; False: the listener is full, refuse it."""

    def release(self) -> None:
        """Release counts an admitted connection out."""

    def authorized(self, value: bytes) -> bool:
        """Authorized says whether an Authorization header value carries the peer token."""

    def route(self, conn: Connection, method: bytes, url: bytes) -> None: ...


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Head renders a status line and headers."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection(asyncio.Protocol):
    """Connection parses requests with httptools and times out idle and slow clients.

    What a client sends before its headers end is bounded (MAX_URL_BYTES, MAX_HEADER_BYTES,
    MAX_HEAD_BYTES), the token is checked as soon as the headers are in, and an offender
    gets its problem+json and a close; nothing more it sends is parsed.
    """

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
        self.head_bytes = 0  # read since this request began, until its headers are in
        self.header_bytes = 0  # of its header lines, as parsed
        self.in_head = True
        self.closing = False  # refused: answered and closing, what else comes is dropped
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.admitted = self.server.admit()
        if not self.admitted:
            detail = "too many connections to the peer listener; retry shortly"
            retry = [("Retry-After", str(RETRY_AFTER_S))]
            self.problem(503, "Service Unavailable", detail, close=True, headers=retry)
            return
        self._arm(self.server.idle_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        self.transport = None
        self.drained.set()
        if self.admitted:
            self.admitted = False
            self.server.release()

    def pause_writing(self) -> None:
        self.drained.clear()

    def resume_writing(self) -> None:
        self.drained.set()

    def _arm(self, timeout_s: float | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None if timeout_s is None else self.loop.call_later(timeout_s, self.abort)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if not self.started:
            self.started = True
            self._arm(self.server.header_timeout_s)
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)  # one read at most: what httptools may hold is bounded
        except httptools.HttpParserUpgrade:
            self.refuse(400, "upgrades are not served")
        except httptools.HttpParserError:
            self.refuse(400, "malformed request")
        # Checked after the parser saw the read, so that a long request line is a 414.
        if self.in_head and self.head_bytes > MAX_HEAD_BYTES:
            self.refuse(431, f"request line and headers over {MAX_HEAD_BYTES} bytes")

    def refuse(self, status: int, detail: str) -> None:
        """Refuse answers an offending request with a problem and closes the connection."""
        if self.closing:
            return
        if self.answering:  # a pipelined offence: its answer would interleave with the first
            self.closing = True
            self.abort()
            return
        self.problem(status, REASONS[status], detail, close=True)

    # httptools callbacks; after a refusal they change nothing
    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_URL_BYTES:
            self.refuse(414, f"request line over {MAX_URL_BYTES} bytes")
        elif not self.closing:
            self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self.header_bytes += size + 4  # ": " and CRLF
        if size > MAX_HEADER_BYTES:
            self.refuse(431, f"a header over {MAX_HEADER_BYTES} bytes")
        elif len(self.url) + self.header_bytes > MAX_HEAD_BYTES:
            # A whole request in one read: data_received counts only reads before its end.
            self.refuse(431, f"request line and headers over {MAX_HEAD_BYTES} bytes")
        elif name.lower() == b"authorization":
            self.auth = value

    def on_headers_complete(self) -> None:
        self.in_head = False
        if not self.closing and not self.server.authorized(self.auth):
            self.refuse(403, "a member's peer token is required")

    def on_message_complete(self) -> None:
        self.in_head, self.head_bytes, self.header_bytes = True, 0, 0  # the next request's
        if self.closing:
            return
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
        url = self.url
        self.url, self.auth = b"", b""
        self.server.route(self, method, url)

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
            self.closing = True
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
