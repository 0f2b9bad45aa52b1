"""The warm-up: each connection opened before the clock starts carries one HEAD of the hot blob.

A connection that has not carried a request yet is not an idle keep-alive connection to every
server: gunicorn's gthread worker (casserver's) hands each new connection to a thread that
blocks until its first request, and parks it in its poller only after one. Warm connections
left unused and outnumbering those threads (casserver: 2 workers x 8) held them all, and
requests waited seconds for one. After one answered request every server parks a
connection like any other idle keep-alive one. The warm-up answers are not results: what the
attack measures is its GETs, each checked on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import httptools

from loadclient.connection import Connection

log = logging.getLogger(__name__)


class _Head:
    """_Head is what httptools makes of an answer's header block: status, reason, keep-alive."""

    def __init__(self, block: bytes) -> None:
        self.status = 0
        self.reason = ""
        self.connection = b""
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)
        self.parser.feed_data(block)  # a HEAD's Content-Length announces no body: none follows

    def on_status(self, reason: bytes) -> None:
        self.reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"connection":
            self.connection += value.lower()

    def on_headers_complete(self) -> None:
        # Not parser.should_keep_alive(): it takes an answer without Content-Length for one
        # whose body ends at the close, which an answer to HEAD is not.
        self.status = self.parser.get_status_code()
        if self.parser.get_http_version() == "1.1":
            self.keep_alive = b"close" not in self.connection
        else:
            self.keep_alive = b"keep-alive" in self.connection


async def open_warm(
    connect: Callable[[], Awaitable[Connection]],
    request: bytes,
    n: int,
    timeout_s: float,
    url: str,
) -> list[Connection]:
    """Open_warm opens n connections, each sends request (a HEAD), and returns the reusable ones.

    Each connection gets timeout_s for its connect and answer together, so the warm-up ends
    within timeout_s. A connect that fails is left to the attack, whose own connects report
    it as errors; an answer that is not 200 is logged, since the GETs show what is wrong
    (an error status, or none if the server just does not do HEAD), counted in the report.
    """
    outcomes = await asyncio.gather(*(_warm(connect, request, timeout_s) for _ in range(n)))
    problems = Counter(problem for _, problem in outcomes if problem)
    for problem, count in problems.items():
        log.warning(
            "loadclient: warm-up HEAD %s: %s on %d of %d connections (not counted: the GETs "
            "are what is measured)", url, problem, count, n,
        )  # fmt: skip
    return [conn for conn, _ in outcomes if conn is not None]


async def _warm(
    connect: Callable[[], Awaitable[Connection]], request: bytes, timeout_s: float
) -> tuple[Connection | None, str]:
    """_warm is one connection fit for the attack (or None) and what went wrong ("" if nothing)."""
    conn = None
    try:
        async with asyncio.timeout(timeout_s):
            conn = await connect()
            block = await conn.warm(request)
    except (TimeoutError, OSError) as exc:
        if conn is None:
            return None, ""
        conn.close(abort=True)
        return None, "no answer within the timeout" if isinstance(exc, TimeoutError) else str(exc)
    try:
        head = _Head(block)
    except httptools.HttpParserError as exc:
        conn.close(abort=True)
        return None, f"invalid HTTP answer: {exc}"
    if not head.keep_alive:
        conn.close()
        conn = None
    return conn, "" if head.status == 200 else f"answered {head.status} {head.reason}".rstrip()
