"""The connection pool: one process's keep-alive connections, idle, busy or being opened.

Opening is a task per connection; every such task is kept until it ends and its outcome
(a connection or a classified failure) is always delivered, so no task exception is left
unretrieved whatever the server or the kernel does.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable

from loadclient.connection import Connection, Owner, ReadBuffer
from loadclient.durations import NS_PER_S
from loadclient.plan import Plan
from loadclient.result import CONNECT, GENERATOR, TIMEOUT

# The client's own resources, not the server's doing: descriptors, buffers, ephemeral ports.
_GENERATOR_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
)


def classify(exc: BaseException) -> tuple[str, str]:
    """Classify is the error kind and reason of a failed connect."""
    if isinstance(exc, TimeoutError):
        return TIMEOUT, "timed out"
    if isinstance(exc, OSError) and exc.errno in _GENERATOR_ERRNOS:
        return GENERATOR, str(exc)
    return CONNECT, str(exc) or type(exc).__name__


class Pool:
    """Pool holds the connections to one host:port, at most `limit` open or opening at once."""

    def __init__(self, plan: Plan, owner: Owner, on_bug: Callable[[BaseException], None]) -> None:
        self.host, self.port, self.limit = plan.host, plan.port, plan.max_connections
        self.timeout_s = plan.timeout_ns / NS_PER_S
        self.owner = owner
        self.on_bug = on_bug  # an exception from a callback: a bug, which must end the run
        self.reads = ReadBuffer()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.opening = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def full(self) -> bool:
        """Full says no connection may be opened now."""
        return len(self.busy) + self.opening >= self.limit

    def active(self) -> bool:
        """Active says a connection carries a request or is being opened for one."""
        return bool(self.busy or self.opening)

    def take(self) -> Connection | None:
        """Take moves an idle connection to busy and returns it (None when none is idle)."""
        if not self.idle:
            return None
        conn = self.idle.pop()
        self.busy.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Release makes a busy connection idle."""
        self.busy.discard(conn)
        self.idle.append(conn)

    def discard(self, conn: Connection) -> None:
        """Discard forgets a connection that is gone or being closed."""
        self.busy.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    async def connect(self) -> Connection:
        """Connect opens one connection (not counted in the pool until the caller adds it)."""
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: Connection(self.owner, self.reads), self.host, self.port
        )
        return conn

    def open(self, then: Callable[[Connection], None], fail: Callable[[str, str], None]) -> None:
        """Open starts a connect; then(conn) gets it as busy, or fail(kind, error) the reason."""
        self.opening += 1
        task = asyncio.get_running_loop().create_task(self._open(then, fail))
        self._tasks.add(task)
        task.add_done_callback(self._opened)

    async def _open(
        self, then: Callable[[Connection], None], fail: Callable[[str, str], None]
    ) -> None:
        try:
            conn = await asyncio.wait_for(self.connect(), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - every connect failure is a result
            self.opening -= 1
            kind, reason = classify(exc)
            fail(kind, f"connect: {reason}")
            return
        self.opening -= 1
        self.busy.add(conn)
        then(conn)

    def _opened(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.on_bug(exc)

    def expired(self, now_ns: int, timeout_ns: int) -> list[Connection]:
        """Expired are the busy connections whose request was written over timeout_ns ago."""
        return [c for c in self.busy if c.exchange and now_ns - c.started_ns() > timeout_ns]

    def close(self) -> None:
        """Close cancels the connects under way and closes every connection."""
        for task in self._tasks:
            task.cancel()
        for conn in [*self.idle, *self.busy]:
            conn.close()
        self.idle.clear()
        self.busy.clear()
