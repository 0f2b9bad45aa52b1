"""The peer listener: /_groupcache/ on a port of its own, served from a thread of the process.

The cache lives in the process, so the peer protocol must be served by the same process
as the client port, whatever runs that (granian or gunicorn). An asyncio loop (uvloop)
with httptools on one background thread does it: hits are answered on the loop itself,
loads wait on a bounded pool of their own, never on the client port's request threads.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, Protocol, cast

import httptools
import uvloop

from cacheserver.errors import RETRY_AFTER_S, LoadError, Overloaded, status_of
from cacheserver.routes import PEER_BLOB_PREFIX
from cacheserver.stream import BlobStream
from cacheserver.upstream import ORIGIN_ERROR_HEADER
from cascommon.blobheaders import OCTET_STREAM
from cascommon.digest import Digest, InvalidDigest, parse_digest
from cascommon.problem import PROBLEM_JSON, problem_body

log = logging.getLogger(__name__)

REASONS: Final = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class PeerSource(Protocol):
    """PeerSource is what the listener serves: the group's cache and its peer loads."""

    def cached_for_peer(self, key: str) -> bytes | None: ...

    def get_for_peer(self, digest: Digest) -> bytes | BlobStream: ...


def head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Head renders a status line and headers."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class PeerServer:
    """PeerServer answers GET /_groupcache/cas/{digest} for the other members."""

    def __init__(
        self,
        source: PeerSource,
        *,
        host: str,
        port: int,
        token: str | None,
        header_timeout_s: float,
        idle_timeout_s: float,
        max_waiters: int,
    ) -> None:
        self.source = source
        self.host, self.port = host, port
        self._expected = None if token is None else f"Bearer {token}".encode()
        self.header_timeout_s = header_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_waiters = max_waiters
        self.waiting = 0  # touched on the loop's thread only
        self.pool = ThreadPoolExecutor(max_waiters, thread_name_prefix="peer-request")
        self.loop = uvloop.new_event_loop()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start binds the port now (so a taken port fails the caller) and serves on a thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family, backlog=1024)
        sock.setblocking(False)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="peer-listener", daemon=True
        )
        self._thread.start()

    def _run(self, sock: socket.socket) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: Connection(self), sock=sock)
        )
        try:
            self.loop.run_forever()
        finally:
            server.close()
            self.loop.run_until_complete(server.wait_closed())
            self.loop.close()

    def stop(self) -> None:
        """Stop closes the listener and ends the loop (in a server, the process does)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def authorized(self, value: bytes) -> bool:
        """Authorized compares the Authorization header with the token in constant time."""
        return self._expected is None or hmac.compare_digest(value, self._expected)

    def route(self, conn: Connection, method: bytes, url: bytes, auth: bytes) -> None:
        """Route answers one parsed request on the loop: a hit now, a load from the pool."""
        path = url.split(b"?", 1)[0].decode("latin-1")
        if not path.startswith(PEER_BLOB_PREFIX):
            return conn.problem(404, "Not Found", "the peer port serves /_groupcache/ only")
        if method != b"GET":
            return conn.problem(405, "Method Not Allowed", "the peer protocol is GET")
        if not self.authorized(auth):
            return conn.problem(403, "Forbidden", "a member's peer token is required")
        try:
            digest = parse_digest(path[len(PEER_BLOB_PREFIX) :])
        except InvalidDigest as ex:
            return conn.problem(400, "Invalid digest", str(ex))
        value = self.source.cached_for_peer(digest.hex)
        if value is not None:
            return conn.whole(value)
        if self.waiting >= self.max_waiters:
            return conn.load_error(Overloaded(f"{self.waiting} peer requests already waiting"))
        self.waiting += 1
        future = self.pool.submit(self._load, conn, digest)
        future.add_done_callback(lambda f: self.loop.call_soon_threadsafe(self._loaded, f))

    def _loaded(self, future: Future[None]) -> None:
        self.waiting -= 1
        if not future.cancelled() and future.exception() is not None:
            log.error("peer request failed", exc_info=future.exception())

    def _load(self, conn: Connection, digest: Digest) -> None:
        """_load runs on the pool: one blocking load, then the answer goes back to the loop."""
        call = self.loop.call_soon_threadsafe
        try:
            value = self.source.get_for_peer(digest)
        except LoadError as ex:
            call(conn.load_error, ex)
            return
        except Exception:
            call(conn.problem, 500, "Internal Server Error", "unexpected server error")
            raise
        if isinstance(value, bytes):
            call(conn.whole, value)
            return
        self._relay(conn, value)

    def _relay(self, conn: Connection, stream: BlobStream) -> None:
        """_relay passes a stream chunk by chunk, each written before the next is read."""
        try:
            conn.send_threadsafe(conn.stream_head(stream.length))
            for chunk in stream:
                conn.send_threadsafe(chunk if stream.length is not None else conn.chunked(chunk))
            if stream.length is None:
                conn.send_threadsafe(b"0\r\n\r\n")
        except (LoadError, ConnectionError, TimeoutError) as ex:
            log.warning("peer stream cut", extra={"error": str(ex)})
            self.loop.call_soon_threadsafe(conn.abort)
            return
        finally:
            stream.close()
        self.loop.call_soon_threadsafe(conn.finish)


class Connection(asyncio.Protocol):
    """Connection parses requests with httptools and times out idle and slow clients."""

    def __init__(self, server: PeerServer) -> None:
        self.server = server
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.auth = b""
        self.started = False
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
        self.transport.pause_reading()  # one request at a time; pipelined ones wait
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
