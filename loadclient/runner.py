"""Runs the attack in this process or in several worker processes, and merges their metrics.

Workers share one schedule: worker w of n sends the global hits w, w+n, w+2n, ... from one
common start time (CLOCK_MONOTONIC is system-wide), so together they keep the exact rate.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from multiprocessing.sharedctypes import Synchronized
from typing import Any, Protocol

import uvloop

from loadclient.attacker import Attacker
from loadclient.durations import NS_PER_S
from loadclient.live import Board, Snapshot
from loadclient.metrics import Metrics
from loadclient.plan import Plan
from loadclient.series import interval_for

Progress = Callable[[float, int, int], None]  # (elapsed seconds, requests, errors)

_START_SLACK_NS = 100_000_000  # workers get this long to see the start time before it comes
_RESERVED_FDS = 64  # descriptors a process needs beside its connections (loop, pipes, files)


class WorkerFailed(RuntimeError):
    """WorkerFailed is a worker process that died or reported an exception."""


def run(
    plan: Plan,
    workers: int = 1,
    progress: Progress | None = None,
    start_ns: int | None = None,
    board: Board | None = None,
) -> Metrics:
    """Run attacks with plan in `workers` processes and returns the merged metrics.

    start_ns is when the schedule starts (monotonic; default: as soon as all are ready);
    board, if any, is kept up to date for --metrics-addr while the attack runs.
    """
    raise_descriptor_limit()
    if workers <= 1:
        show = None if progress is None else _Shown(progress)
        metrics = uvloop.run(_attack(plan, _Solo(start_ns, board), show))
    else:
        metrics = _run_workers(replace(plan, live=board is not None), workers, progress,
                               start_ns, board)  # fmt: skip
    if board is not None:
        board.finish(metrics)
    return metrics


def raise_descriptor_limit() -> int:
    """Raise_descriptor_limit lifts the soft RLIMIT_NOFILE to the hard one and returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. macOS caps it below an infinite hard limit
            pass
    return soft


def fit_descriptors(plan: Plan) -> tuple[Plan, bool]:
    """Fit_descriptors caps the pool to this process's descriptor limit; True if it had to."""
    soft = raise_descriptor_limit()
    if soft == resource.RLIM_INFINITY:
        return plan, False
    usable = max(1, soft - _RESERVED_FDS)
    if plan.max_connections <= usable:
        return plan, False
    return replace(plan, max_connections=usable, connections=min(plan.connections, usable)), True


@contextmanager
def _attacking(metrics: Metrics) -> Iterator[None]:
    # Requests make no reference cycles, so the cyclic GC only adds pauses (and send lag).
    gc.collect()
    gc.freeze()
    gc.disable()
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        yield
    finally:
        after = resource.getrusage(resource.RUSAGE_SELF)
        metrics.cpu_s += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        gc.enable()
        gc.unfreeze()


class _Role(Protocol):
    """_Role is what differs between a lone attacking process and a worker of several."""

    def on_sigint(self, attacker: Attacker, loop: asyncio.AbstractEventLoop) -> None:
        """On_sigint handles Ctrl-C during the attack."""

    async def start(self, loop: asyncio.AbstractEventLoop) -> int | None:
        """Start is called once warm: it returns the common start time (None: now)."""

    def started(self, attacker: Attacker, start_ns: int) -> None:
        """Started is called when the schedule starts (for --metrics-addr)."""


class _Solo:
    def __init__(self, start_ns: int | None, board: Board | None = None) -> None:
        self.start_ns = start_ns
        self.board = board

    def on_sigint(self, attacker: Attacker, loop: asyncio.AbstractEventLoop) -> None:
        # The first Ctrl-C ends the attack with a report; a second one stops at once.
        attacker.interrupt()
        loop.remove_signal_handler(signal.SIGINT)

    async def start(self, loop: asyncio.AbstractEventLoop) -> int | None:
        return self.start_ns

    def started(self, attacker: Attacker, start_ns: int) -> None:
        if self.board is not None:
            self.board.begin(attacker.plan, start_ns)
            self.board.set_live(0, lambda: _snapshot(attacker))


class _Worker:
    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe

    def on_sigint(self, attacker: Attacker, loop: asyncio.AbstractEventLoop) -> None:
        # Ctrl-C reaches every worker from the terminal and again from the parent, which also
        # decides when a second one means "stop now" (it kills the workers).
        attacker.interrupt()

    async def start(self, loop: asyncio.AbstractEventLoop) -> int | None:
        self.pipe.send(("ready", None))
        start_ns: int = await loop.run_in_executor(None, self.pipe.recv)
        return start_ns

    def started(self, attacker: Attacker, start_ns: int) -> None:
        pass  # the parent's board knows the start; snapshots go by _Shared


class _Shown:
    """_Shown passes progress (elapsed s, requests, errors) to a Progress callback each second."""

    period_s = 1.0

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __call__(self, attacker: Attacker, elapsed_s: float) -> None:
        m = attacker.metrics
        self.progress(elapsed_s, m.requests, m.requests - m.successes)


class _Shared:
    """_Shared publishes a worker's counts to shared memory for the parent's progress line."""

    period_s = 0.5

    def __init__(
        self, requests: Synchronized[int], errors: Synchronized[int], pipe: Pipe | None = None
    ) -> None:
        self.requests, self.errors = requests, errors
        self.pipe = pipe  # --metrics-addr: a Snapshot goes to the parent's board each period

    def __call__(self, attacker: Attacker, elapsed_s: float) -> None:
        m = attacker.metrics
        self.requests.value, self.errors.value = m.requests, m.requests - m.successes
        if self.pipe is not None:
            self.pipe.send(("live", _snapshot(attacker)))


async def _attack(plan: Plan, role: _Role, ticker: _Shown | _Shared | None) -> Metrics:
    """_attack is one process's attack: fit, warm up, wait for the start, run, report."""
    plan, limited = fit_descriptors(plan)
    attacker = Attacker(plan)
    attacker.metrics.fd_limited = limited
    await attacker.warm_up()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, role.on_sigint, attacker, loop)
    try:
        start_ns = await role.start(loop)
        with _attacking(attacker.metrics):
            start = start_ns or time.monotonic_ns()  # after the GC work, or it counts as lag
            role.started(attacker, start)
            task = None if ticker is None else loop.create_task(_tick(attacker, start, ticker))
            watch = None if plan.stop_rule is None else loop.create_task(_watch(attacker))
            try:
                return await attacker.run(start)
            finally:
                for t in (task, watch):
                    if t is not None:
                        t.cancel()
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # or it outlives the loop


async def _tick(attacker: Attacker, start_ns: int, ticker: _Shown | _Shared) -> None:
    while True:
        await asyncio.sleep(ticker.period_s)
        ticker(attacker, (time.monotonic_ns() - start_ns) / NS_PER_S)


def _snapshot(attacker: Attacker) -> Snapshot:
    return Snapshot.of(attacker.metrics, len(attacker.pool.busy))


async def _watch(attacker: Attacker) -> None:
    # A capacity step stops as soon as its result is decided (loadclient.stoprule).
    rule = attacker.plan.stop_rule
    assert rule is not None
    while not attacker.metrics.stopped_early:
        await asyncio.sleep(0.1)
        attacker.recorder.flush()
        why = rule.decided(attacker.metrics)
        if why is not None:
            attacker.stop_early(why)


def _worker(plan: Plan, pipe: Pipe, requests: Synchronized[int], errors: Synchronized[int]) -> None:
    try:
        live = pipe if plan.live else None
        metrics = uvloop.run(_attack(plan, _Worker(pipe), _Shared(requests, errors, live)))
        pipe.send(("metrics", metrics))
    except BaseException as exc:  # noqa: BLE001 - report every failure to the parent
        pipe.send(("error", f"worker {plan.worker}: {type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def _run_workers(
    plan: Plan,
    workers: int,
    progress: Progress | None,
    start_at_ns: int | None,
    board: Board | None = None,
) -> Metrics:
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Pipe] = []
    procs: list[Any] = []
    counters = [
        (ctx.Value("q", 0, lock=False), ctx.Value("q", 0, lock=False)) for _ in range(workers)
    ]
    for w in range(workers):
        parent, child = ctx.Pipe()
        p = ctx.Process(
            target=_worker, args=(replace(plan, worker=w, workers=workers), child, *counters[w]),
            name=f"loadclient-worker-{w}", daemon=True,
        )  # fmt: skip
        p.start()
        child.close()
        pipes.append(parent)
        procs.append(p)
    previous: Any = None
    try:
        for pipe in pipes:
            _expect(pipe, "ready")
        # A shared --start-at holds even when it has passed: other shards keep to it too.
        start_ns = start_at_ns or time.monotonic_ns() + _START_SLACK_NS
        for pipe in pipes:
            pipe.send(start_ns)
        if board is not None:
            board.begin(plan, start_ns)
        previous = signal.signal(signal.SIGINT, _Interrupt(procs))
        merged = Metrics(interval_for(plan.duration_ns))
        pending = list(pipes)
        while pending:
            for ready in wait(pending, timeout=1.0):
                got = _receive(ready, board)
                if got is not None:
                    merged.merge(got)
                    pending = [p for p in pending if p is not ready]
            if progress is not None and pending:
                _show_progress(progress, counters, start_ns)
        return merged
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()


def _receive(pipe: Any, board: Board | None) -> Metrics | None:
    """_receive is a worker's final metrics, or None after passing a live Snapshot on."""
    got = _expect(pipe, "metrics", live=True)
    if isinstance(got, Snapshot):
        if board is not None:
            board.set_live(id(pipe), got)
        return None
    assert isinstance(got, Metrics)
    return got


def _show_progress(progress: Progress, counters: list[Any], start_ns: int) -> None:
    done = sum(int(r.value) for r, _ in counters)
    failed = sum(int(e.value) for _, e in counters)
    progress((time.monotonic_ns() - start_ns) / NS_PER_S, done, failed)


class _Interrupt:
    """_Interrupt passes the first Ctrl-C on to the workers (each then ends with a report);
    a second one kills them and interrupts the parent."""

    def __init__(self, procs: list[Any]) -> None:
        self.procs, self.count = procs, 0

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        for p in self.procs:
            if p.is_alive():
                if self.count == 1:
                    os.kill(p.pid, signal.SIGINT)
                else:
                    p.kill()
        if self.count > 1:
            raise KeyboardInterrupt


def _expect(pipe: Any, kind: str, live: bool = False) -> Any:
    try:
        got, value = pipe.recv()
    except EOFError:
        raise WorkerFailed("a worker process exited without reporting") from None
    if live and got == "live":
        return value
    if got == "error":
        raise WorkerFailed(value)
    if got != kind:
        raise WorkerFailed(f"worker sent {got!r}, expected {kind!r}")
    return value


def progress_printer(duration_s: float) -> Progress:
    """Progress_printer writes one updating status line to stderr."""

    def show(elapsed_s: float, requests: int, errors: int) -> None:
        rate = requests / elapsed_s if elapsed_s > 0 else 0.0
        sys.stderr.write(
            f"\r[{min(elapsed_s, duration_s):6.1f}s/{duration_s:g}s] requests {requests}"
            f"  rate {rate:8.1f}/s  errors {errors}   "
        )
        sys.stderr.flush()

    return show
