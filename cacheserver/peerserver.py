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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import uvloop

from cacheserver.errors import LoadError, Overloaded
from cacheserver.peerconn import Connection
from cacheserver.routes import PEER_BLOB_PREFIX
from cacheserver.stream import BlobStream
from cascommon.digest import Digest, InvalidDigest, parse_digest

log = logging.getLogger(__name__)


class PeerSource(Protocol):
    """PeerSource is what the listener serves: the group's cache and its peer loads."""

    def cached_for_peer(self, key: str) -> bytes | None: ...

    def get_for_peer(self, digest: Digest) -> bytes | BlobStream: ...


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
        max_connections: int = 1024,
    ) -> None:
        self.source = source
        self.host, self.port = host, port
        self._expected = None if token is None else f"Bearer {token}".encode()
        self.header_timeout_s = header_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_waiters = max_waiters
        self.waiting = 0  # touched on the loop's thread only
        self.max_connections = max_connections
        self.connections = 0  # the same
        self.pool = ThreadPoolExecutor(max_waiters, thread_name_prefix="peer-request")
        self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
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

    def admit(self) -> bool:
        """Admit counts a new connection in, unless max_connections are open already."""
        if self.connections >= self.max_connections:
            return False
        self.connections += 1
        return True

    def release(self) -> None:
        """Release counts a closed connection out."""
        self.connections -= 1

    def authorized(self, value: bytes) -> bool:
        """Authorized compares the Authorization header with the token in constant time."""
        return self._expected is None or hmac.compare_digest(value, self._expected)

    def route(self, conn: Connection, method: bytes, url: bytes) -> None:
        """Route answers one authorized request on the loop: a hit now, a load from the pool."""
        path = url.split(b"?", 1)[0].decode("latin-1")
        if not path.startswith(PEER_BLOB_PREFIX):
            return conn.problem(404, "Not Found", "the peer port serves /_groupcache/ only")
        if method != b"GET":
            return conn.problem(405, "Method Not Allowed", "the peer protocol is GET")
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
        future.add_done_callback(lambda f: self._call(self._loaded, f))

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        """_call runs callback on the loop from a pool thread, unless the server stopped."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is closed: the server stopped, the connection with it

    def _loaded(self, future: Future[None]) -> None:
        self.waiting -= 1
        if not future.cancelled() and future.exception() is not None:
            log.error("peer request failed", exc_info=future.exception())

    def _load(self, conn: Connection, digest: Digest) -> None:
        """_load runs on the pool: one blocking load, then the answer goes back to the loop."""
        call = self._call
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
            self._call(conn.abort)
            return
        finally:
            stream.close()
        self._call(conn.finish)
