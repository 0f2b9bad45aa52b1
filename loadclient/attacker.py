"""The attacker: sends each request when it is due over keep-alive connections (asyncio+httptools).

One event loop per process. A timer (loadclient.timer: a timerfd by default) wakes the loop when
the next request is due; the tick hands every request then due to an idle connection, opens a
new one when all are busy (up to max_connections), or queues it. Latency counts from the due
time, so waiting for a connection or a slow server is never hidden (no coordinated omission);
service time counts from the write, send lag is the gap.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from http import HTTPStatus

from loadclient.connection import Connection, ReadBuffer
from loadclient.durations import NS_PER_S
from loadclient.exchange import Exchange
from loadclient.metrics import CONNECT, TIMEOUT, Metrics
from loadclient.pacer import ConstantPacer
from loadclient.plan import Plan, request_bytes
from loadclient.series import interval_for
from loadclient.targets import miss_index
from loadclient.timer import Timer, make_timer
from loadclient.warmup import open_warm

_BATCH = 2000  # most requests sent per timer tick before letting responses in


class Attacker:
    """Attacker runs one Plan on the running loop and records every result into metrics."""

    def __init__(self, plan: Plan, metrics: Metrics | None = None) -> None:
        self.plan = plan
        self.pacer = ConstantPacer(plan.rate, plan.duration_ns)
        self.metrics = metrics or Metrics(interval_for(plan.duration_ns))
        self.hot_request = request_bytes(plan, plan.hot_digest)
        self.hot, self.hot_digest, self.miss_ratio = plan.hot, plan.hot_digest, plan.miss_ratio
        self.reads = ReadBuffer()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.opening = 0
        self.queue: deque[tuple[int, int]] = deque()
        self.start_ns = 0
        self.deadline_ns = 0
        self.next_hit = plan.worker
        self.total_hits = self.pacer.total_hits()
        self.closed_model = plan.rate.freq == 0
        self._done: asyncio.Future[None] | None = None
        self._sending = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: Timer | None = None

    async def warm_up(self) -> None:
        """Warm_up opens the initial connections, each carrying one HEAD (see warmup.py)."""
        loop, plan = asyncio.get_running_loop(), self.plan
        self.idle += await open_warm(
            lambda: self._connect(loop), request_bytes(plan, plan.hot_digest, "HEAD"),
            max(1, plan.connections), plan.timeout_ns / NS_PER_S,
            f"{plan.base_url}/cas/{plan.hot_digest}",
        )  # fmt: skip

    async def run(self, start_ns: int | None = None) -> Metrics:
        """Run attacks from start_ns (monotonic; default now) until every response is in."""
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.start_ns = start_ns or time.monotonic_ns()
        self.deadline_ns = self.start_ns + self.plan.duration_ns
        sweeper = loop.create_task(self._sweep())
        wait_s = (self.start_ns - time.monotonic_ns()) / NS_PER_S
        if self.closed_model:
            loop.call_later(max(0.0, wait_s), self._start_closed)
        else:
            self._timer = make_timer(self.plan.timer, loop, self._tick)
            self._timer.wake_at(self.start_ns)
        try:
            await self._done
        finally:
            if self._timer is not None:
                self._timer.close()
            sweeper.cancel()
            for conn in [*self.idle, *self.busy]:
                conn.close()
            self.idle.clear()
        return self.metrics

    def interrupt(self) -> None:
        """Interrupt stops sending (Ctrl-C): requests in flight still finish or time out."""
        self.metrics.interrupted = True
        self._sending = False
        self.queue.clear()  # due but never sent: vegeta would not have sent them either
        self._maybe_done()

    # -- pacing -------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._tick_unsafe()
        except Exception as exc:  # a bug here must end the run, never hang it
            if self._done is not None and not self._done.done():
                self._done.set_exception(exc)

    def _tick_unsafe(self) -> None:
        if self.metrics.interrupted:
            return self._maybe_done()
        now = time.monotonic_ns()
        elapsed = now - self.start_ns
        stride, pacer = self.plan.workers, self.pacer
        for _ in range(_BATCH):
            wait_ns, stop = pacer.pace(elapsed, self.next_hit)
            if stop:
                self._sending = False
                self._maybe_done()
                return
            if wait_ns > 0:
                assert self._timer is not None
                self._timer.wake_at(self.start_ns + pacer.due_ns(self.next_hit))
                return
            self._dispatch(self.next_hit, self.start_ns + pacer.due_ns(self.next_hit))
            self.next_hit += stride
        assert self._loop is not None
        self._loop.call_soon(self._tick)

    def _start_closed(self) -> None:
        # rate 0: a closed model like wrk; each connection sends again when its answer is in.
        if self.metrics.interrupted:
            return self._maybe_done()
        now = time.monotonic_ns()
        for _ in range(max(1, self.plan.connections)):
            self._dispatch(self.next_hit, now)
            self.next_hit += self.plan.workers
        assert self._loop is not None
        self._loop.call_later(self.plan.duration_ns / NS_PER_S, self._stop_closed)

    def _stop_closed(self) -> None:
        self._sending = False
        self._maybe_done()

    def _dispatch(self, hit: int, due_ns: int) -> None:
        if self.idle:
            conn = self.idle.pop()
            self.busy.add(conn)
            self._send(conn, hit, due_ns)
        elif len(self.busy) + self.opening < self.plan.max_connections:
            assert self._loop is not None
            self.opening += 1
            self._loop.create_task(self._open_and_send(hit, due_ns))
        else:
            self.queue.append((hit, due_ns))

    def _send(self, conn: Connection, hit: int, due_ns: int) -> None:
        plan = self.plan
        index = miss_index(hit, plan.miss_ratio) if self.miss_ratio else None
        if index is None or index >= len(plan.miss_digests):
            conn.send(Exchange(hit, due_ns, self.hot_request, self.hot_digest, self.hot))
        else:
            digest = plan.miss_digests[index]
            conn.send(Exchange(hit, due_ns, request_bytes(plan, digest), digest, None))

    def retry(self, conn: Connection, ex: Exchange) -> None:
        """Retry sends ex again after its reused connection closed before any answer."""
        self.busy.discard(conn)
        if len(self.busy) + self.opening < self.plan.max_connections:
            assert self._loop is not None
            self.opening += 1
            self._loop.create_task(self._open_and_send(ex.hit, ex.due_ns))
        else:
            self.queue.appendleft((ex.hit, ex.due_ns))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Connection:
        _, conn = await loop.create_connection(
            lambda: Connection(self, self.reads), self.plan.host, self.plan.port
        )
        return conn

    async def _open_and_send(self, hit: int, due_ns: int) -> None:
        assert self._loop is not None
        try:
            conn = await asyncio.wait_for(
                self._connect(self._loop), self.plan.timeout_ns / NS_PER_S
            )
        except (TimeoutError, OSError) as exc:
            self.opening -= 1
            kind = TIMEOUT if isinstance(exc, asyncio.TimeoutError) else CONNECT
            reason = "timed out" if kind == TIMEOUT else str(exc) or type(exc).__name__
            self._record_failure(hit, due_ns, 0, kind, f"connect: {reason}")
            self._next_after_failure()
            return
        self.opening -= 1
        self.busy.add(conn)
        self._send(conn, hit, due_ns)

    # -- results ------------------------------------------------------------

    def completed(self, conn: Connection, ex: Exchange, done_ns: int, keep_alive: bool) -> None:
        """Completed is called by a connection when a whole response is in."""
        expect = ex.expect
        if (
            ex.status == 200 and expect is not None and not ex.mismatch and not ex.chunked
            and ex.bytes_in == len(expect) and keep_alive
        ):  # fmt: skip
            # The hot path: the right bytes of the hot blob (what verdict() would conclude).
            self.metrics.add_success(
                self.start_ns, ex.due_ns, ex.sent_ns, done_ns, ex.bytes_in, ex.cache
            )
            if self.closed_model and self._sending and not self.queue:
                self._send(conn, self.next_hit, done_ns)  # wrk-style: send again at once
                self.next_hit += self.plan.workers
            elif self.queue or self.closed_model:
                self._release(conn)
            else:
                self.busy.discard(conn)
                self.idle.append(conn)
                if not self._sending:
                    self._maybe_done()
            return
        status = ex.status
        error_kind, error = ex.verdict()
        if error_kind is not None and not error:
            error = f"{status} {_reason(status)}"
        self.metrics.add(
            self.start_ns, ex.due_ns, ex.sent_ns, done_ns, status, ex.bytes_in,
            0, error_kind, self._describe(ex, error) if error_kind else "", ex.cache,
        )  # fmt: skip
        if keep_alive:
            self._release(conn)
        else:
            self.busy.discard(conn)
            conn.close()
            self._next_after_failure()

    def failed(self, conn: Connection, ex: Exchange, kind: str, error: str) -> None:
        """Failed is called by a connection whose request can get no answer."""
        self.busy.discard(conn)
        self._record_failure(ex.hit, ex.due_ns, ex.sent_ns, kind, error, ex)
        self._next_after_failure()

    def lost_idle(self, conn: Connection) -> None:
        """Lost_idle is called when the server closes a connection nobody is using."""
        if conn in self.idle:
            self.idle.remove(conn)
        self.busy.discard(conn)
        self._maybe_done()

    def _record_failure(
        self, hit: int, due_ns: int, sent_ns: int, kind: str, error: str, ex: Exchange | None = None
    ) -> None:
        # No whole response, so like vegeta: status 0 and no bytes, even after a status line.
        now = time.monotonic_ns()
        url = f"{self.plan.base_url}/cas/{self.plan.hot_digest if ex is None else ex.digest}"
        self.metrics.add(
            self.start_ns, due_ns, sent_ns, now, 0, 0, 0, kind, f"GET {url}: {error}", None
        )

    def _describe(self, ex: Exchange, error: str) -> str:
        return f"GET {self.plan.base_url}/cas/{ex.digest}: {error}"

    def _release(self, conn: Connection) -> None:
        if self.queue:
            hit, due_ns = self.queue.popleft()
            self._send(conn, hit, due_ns)
        elif self.closed_model and self._sending:
            self._send(conn, self.next_hit, time.monotonic_ns())
            self.next_hit += self.plan.workers
        else:
            self.busy.discard(conn)
            self.idle.append(conn)
            self._maybe_done()

    def _next_after_failure(self) -> None:
        # A connection went away: whoever waits for one gets a fresh connection.
        if self.queue and len(self.busy) + self.opening < self.plan.max_connections:
            hit, due_ns = self.queue.popleft()
            self._dispatch(hit, due_ns)
        elif self.closed_model and self._sending:
            self._dispatch(self.next_hit, time.monotonic_ns())
            self.next_hit += self.plan.workers
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._sending or self.busy or self.opening or self.queue:
            return
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def _sweep(self) -> None:
        # One periodic check instead of a timer per request: cheaper on the hot path.
        timeout = self.plan.timeout_ns
        period = min(0.1, timeout / NS_PER_S / 4)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic_ns()
            for conn in [c for c in self.busy if c.exchange and now - c.started_ns() > timeout]:
                conn.abort_with(TIMEOUT, f"no response within {timeout / NS_PER_S:g}s")
            while self.queue and now - self.queue[0][1] > timeout:
                hit, due_ns = self.queue.popleft()
                self._record_failure(hit, due_ns, 0, TIMEOUT, "no free connection in time")
            self._maybe_done()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"
