"""The attacker: the schedule. It sends each request when it is due over the pool's connections.

One event loop per process. A timer (loadclient.timer: a timerfd by default) wakes the loop when
the next request is due; the tick hands every request then due to an idle connection, opens a
new one when all are busy (up to the pool's limit), or queues it. Latency counts from the due
time, so waiting for a connection or a slow server is never hidden (no coordinated omission);
service time counts from the write, send lag is the gap.

`--duration` is the sending window: a request still unsent when it closes (plus a short grace
for timer jitter) is dropped, counted beside the results; what is in flight then gets at most
--timeout. So a run ends within duration + grace + timeout whatever the server does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from loadclient.connection import Connection
from loadclient.durations import NS_PER_S
from loadclient.exchange import Exchange
from loadclient.metrics import Metrics
from loadclient.pacer import ConstantPacer
from loadclient.plan import Plan, request_bytes
from loadclient.pool import Pool
from loadclient.recorder import Recorder
from loadclient.result import TIMEOUT
from loadclient.series import interval_for
from loadclient.stages import StagedPacer
from loadclient.timer import Timer, make_timer
from loadclient.warmup import open_warm
from loadclient.workload import Targeter

_BATCH = 2000  # most requests sent per timer tick before letting responses in
# A request due inside the window may still leave this late: a busy machine can hold a
# process off its core for tens of ms, which send lag shows; a backlog is what is dropped.
GRACE_NS = 100_000_000


class Attacker:
    """Attacker runs one Plan on the running loop and records every result into metrics."""

    def __init__(self, plan: Plan, metrics: Metrics | None = None) -> None:
        self.plan = plan
        self.pacer: ConstantPacer | StagedPacer = (
            StagedPacer(plan.stages) if plan.stages else ConstantPacer(plan.rate, plan.duration_ns)
        )
        self.metrics = metrics or Metrics(interval_for(plan.duration_ns))
        self.metrics.pool_limit = plan.max_connections
        self.recorder = Recorder(plan.base_url, self.metrics)
        self.targets = Targeter(plan)
        self.pool = Pool(plan, self, self._fail_run)
        self.queue: deque[tuple[int, int]] = deque()
        self.start_ns = 0
        # This process sends the global hits first, first + stride, ... (workers x shards).
        self.stride = plan.workers * plan.shards
        self.next_hit = plan.shard + plan.shards * plan.worker
        self.total_hits = self.pacer.total_hits()
        self.closed_model = plan.rate.freq == 0 and not plan.stages
        self._done: asyncio.Future[None] | None = None
        self._sending = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: Timer | None = None

    @property
    def idle(self) -> list[Connection]:
        """Idle are the pool's idle connections."""
        return self.pool.idle

    async def warm_up(self) -> None:
        """Warm_up opens the initial connections, each carrying one HEAD (see warmup.py)."""
        plan = self.plan
        digest = plan.key_digests[0] if plan.key_digests else plan.hot_digest
        self.pool.idle += await open_warm(
            self.pool.connect, request_bytes(plan, digest, "HEAD"),
            max(1, min(plan.connections, plan.max_connections)), plan.timeout_ns / NS_PER_S,
            f"{plan.base_url}/cas/{digest}",
        )  # fmt: skip

    async def run(self, start_ns: int | None = None) -> Metrics:
        """Run attacks from start_ns (monotonic; default now) until every request is accounted."""
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.start_ns = self.metrics.start_ns = start_ns or time.monotonic_ns()
        sweeper = loop.create_task(self._sweep())
        wait_s = (self.start_ns - time.monotonic_ns()) / NS_PER_S
        if self.closed_model:
            later = loop.call_later(max(0.0, wait_s), self._start_closed)
        else:
            self._timer = make_timer(self.plan.timer, loop, self._tick)
            self._timer.wake_at(self.start_ns)
            window_end_ns = self.start_ns + self.plan.duration_ns + GRACE_NS
            close_s = (window_end_ns - time.monotonic_ns()) / NS_PER_S
            later = loop.call_later(max(0.0, close_s), self._close_window)
        try:
            await self._done
        finally:
            if self._timer is not None:
                self._timer.close()
            later.cancel()
            sweeper.cancel()
            self.pool.close()
            self.recorder.flush()
        return self.metrics

    def interrupt(self) -> None:
        """Interrupt stops sending (Ctrl-C): requests in flight still finish or time out."""
        self.metrics.interrupted = True
        self._sending = False
        self.recorder.dropped(len(self.queue))  # due, never sent: vegeta would not send them
        self.queue.clear()
        self._maybe_done()

    def stop_early(self, why: str) -> None:
        """Stop_early ends sending once a capacity step is decided (why: stoprule's verdict).

        Requests in flight finish or time out; queued ones are not sent, nor counted dropped.
        """
        self.metrics.stopped_early = why
        self._sending = False
        self.queue.clear()
        self._maybe_done()

    # -- pacing -------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._tick_unsafe()
        except Exception as exc:  # a bug here must end the run, never hang it
            self._fail_run(exc)

    def _fail_run(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    def _tick_unsafe(self) -> None:
        if self.metrics.interrupted or not self._sending:
            return self._maybe_done()
        now = time.monotonic_ns()
        if now >= self.start_ns + self.plan.duration_ns + GRACE_NS:
            return self._close_window()
        elapsed = now - self.start_ns
        stride, pacer = self.stride, self.pacer
        for _ in range(_BATCH):
            wait_ns, stop = pacer.pace(elapsed, self.next_hit)
            if stop:
                self._sending = False
                self._maybe_done()
                return
            if wait_ns > 0:
                assert self._timer is not None
                self._timer.wake_at(self.start_ns + pacer.due_ns(self.next_hit))
                self.recorder.flush_within(wait_ns)  # in the gap, so no send waits for it
                return
            self._dispatch(self.next_hit, self.start_ns + pacer.due_ns(self.next_hit))
            self.next_hit += stride
        assert self._loop is not None
        self._loop.call_soon(self._tick)

    def _close_window(self) -> None:
        # The sending window is over: what is due and still unsent is dropped, not sent late.
        if self.closed_model or self.metrics.interrupted:
            return
        unsent = len(self.queue)
        if self._sending and self.next_hit < self.total_hits:
            unsent += -(-(self.total_hits - self.next_hit) // self.stride)
            self.next_hit = self.total_hits
        self.queue.clear()
        self._sending = False
        self.recorder.dropped(unsent)
        self._maybe_done()

    def _start_closed(self) -> None:
        # rate 0: a closed model like wrk; each connection sends again when its answer is in.
        if self.metrics.interrupted:
            return self._maybe_done()
        now = time.monotonic_ns()
        for _ in range(max(1, self.plan.connections)):
            self._dispatch(self.next_hit, now)
            self.next_hit += self.stride
        assert self._loop is not None
        self._loop.call_later(self.plan.duration_ns / NS_PER_S, self._stop_closed)

    def _stop_closed(self) -> None:
        self._sending = False
        self.queue.clear()  # a closed model queues only what is sent again: nothing was due
        self._maybe_done()

    def _dispatch(self, hit: int, due_ns: int) -> None:
        conn = self.pool.take()
        if conn is not None:
            self._send(conn, hit, due_ns)
        elif not self.pool.full():
            self._open(hit, due_ns)
        else:
            self.metrics.pool_waits += 1
            self.queue.append((hit, due_ns))

    def _open(self, hit: int, due_ns: int, ex: Exchange | None = None) -> None:
        def then(conn: Connection) -> None:
            if ex is None:
                self._send(conn, hit, due_ns)
            else:
                conn.send(ex)

        def fail(kind: str, error: str) -> None:
            failed = ex or self.targets.exchange(hit, due_ns)
            self.recorder.failure(due_ns, 0, kind, error, failed.digest, failed.key)
            self._next_after_failure()

        self.pool.open(then, fail)

    def _send(self, conn: Connection, hit: int, due_ns: int) -> None:
        conn.send(self.targets.exchange(hit, due_ns))

    # -- what connections report (connection.Owner) --------------------------

    def retry(self, conn: Connection, ex: Exchange) -> None:
        """Retry sends ex again after its reused connection closed before any answer."""
        self.pool.discard(conn)
        if not self.pool.full():
            self._open(ex.hit, ex.due_ns, ex)
        else:
            self.queue.appendleft((ex.hit, ex.due_ns))

    def completed(self, conn: Connection, ex: Exchange, done_ns: int, keep_alive: bool) -> None:
        """Completed is called by a connection when a whole response is in."""
        expect = ex.expect
        if (
            ex.status == 200 and expect is not None and not ex.mismatch and not ex.chunked
            and ex.bytes_in == len(expect) and keep_alive
        ):  # fmt: skip
            # The hot path: the right bytes of the hot blob (what verdict() would conclude).
            self.recorder.success(ex, done_ns)
            if self.closed_model and self._sending and not self.queue:
                # wrk-style: send again at once (_send inlined: this is most requests).
                conn.send(self.targets.exchange(self.next_hit, done_ns))
                self.next_hit += self.stride
            else:
                self._release(conn)
            return
        self.recorder.answer(ex, done_ns)
        if keep_alive:
            self._release(conn)
        else:
            self.pool.discard(conn)
            conn.close()
            self._next_after_failure()

    def failed(self, conn: Connection, ex: Exchange, kind: str, error: str) -> None:
        """Failed is called by a connection whose request can get no answer."""
        self.pool.discard(conn)
        self.recorder.failure(ex.due_ns, ex.sent_ns, kind, error, ex.digest, ex.key)
        self._next_after_failure()

    def lost_idle(self, conn: Connection) -> None:
        """Lost_idle is called when the server closes a connection nobody is using."""
        self.pool.discard(conn)
        self._maybe_done()

    def _release(self, conn: Connection) -> None:
        if self.queue:
            hit, due_ns = self.queue.popleft()
            self._send(conn, hit, due_ns)
        elif self.closed_model and self._sending:
            self._send(conn, self.next_hit, time.monotonic_ns())
            self.next_hit += self.stride
        else:
            self.pool.release(conn)
            self._maybe_done()

    def _next_after_failure(self) -> None:
        # A connection went away: whoever waits for one gets a fresh connection.
        if self.queue and not self.pool.full():
            hit, due_ns = self.queue.popleft()
            self._dispatch(hit, due_ns)
        elif self.closed_model and self._sending:
            self._dispatch(self.next_hit, time.monotonic_ns())
            self.next_hit += self.stride
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._sending or self.pool.active() or self.queue:
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
            for conn in self.pool.expired(now, timeout):
                conn.abort_with(TIMEOUT, f"no response within {timeout / NS_PER_S:g}s")
            self.recorder.flush()  # the progress shown stays at most a period behind
            while self.queue and now - self.queue[0][1] > timeout:
                hit, due_ns = self.queue.popleft()
                ex = self.targets.exchange(hit, due_ns)
                self.recorder.failure(
                    due_ns, 0, TIMEOUT, "no free connection in time", ex.digest, ex.key
                )
            self._maybe_done()
