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

from loadclient.connection import Connection
from loadclient.response import InvalidResponse, parse_head

log = logging.getLogger(__name__)


async def open_warm(
    connect: Callable[[], Awaitable[Connection]],
    request: bytes,
    n: int,
    timeout_s: float,
    url: str,
) -> list[Connection]:
    """Open_warm opens n connections, each sends request (a HEAD), and returns the reusable ones.

    Each connection gets timeout_s for its connect and answer together, so the warm-up ends
    within timeout_s. A connect that fails or an answer that is not 200 is logged, not fatal:
    the GETs show what is wrong (the attack's own connects fail too, or an error status, or
    nothing if the server just does not do HEAD), counted in the report.
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
            return None, "cannot connect: " + (
                "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            )
        conn.close(abort=True)
        return None, "no answer within the timeout" if isinstance(exc, TimeoutError) else str(exc)
    try:
        head = parse_head(block)
    except InvalidResponse as exc:
        conn.close(abort=True)
        return None, f"invalid HTTP answer: {exc}"
    if not head.keep_alive:
        conn.close()
        conn = None
    return conn, "" if head.status == 200 else f"answered {head.status} {head.reason}".rstrip()
