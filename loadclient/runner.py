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
from typing import Any

import uvloop

from loadclient.attacker import Attacker
from loadclient.durations import NS_PER_S
from loadclient.metrics import Metrics
from loadclient.plan import Plan
from loadclient.series import interval_for

Progress = Callable[[float, int, int], None]  # (elapsed seconds, requests, errors)

_START_SLACK_NS = 100_000_000  # workers get this long to see the start time before it comes


class WorkerFailed(RuntimeError):
    """WorkerFailed is a worker process that died or reported an exception."""


def run(plan: Plan, workers: int = 1, progress: Progress | None = None) -> Metrics:
    """Run attacks with plan in `workers` processes and returns the merged metrics."""
    if workers <= 1:
        return uvloop.run(_attack(plan, None, progress))
    return _run_workers(plan, workers, progress)


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


async def _attack(plan: Plan, start_ns: int | None, progress: Progress | None) -> Metrics:
    attacker = Attacker(plan)
    await attacker.warm_up()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        # The first Ctrl-C ends the attack with a report; a second one stops at once.
        attacker.interrupt()
        loop.remove_signal_handler(signal.SIGINT)

    loop.add_signal_handler(signal.SIGINT, interrupt)
    with _attacking(attacker.metrics):
        start = start_ns or time.monotonic_ns()  # after the GC work, or it would count as lag
        ticker = None
        if progress is not None:
            ticker = loop.create_task(_report_progress(attacker, start, progress))
        try:
            return await attacker.run(start)
        finally:
            loop.remove_signal_handler(signal.SIGINT)  # or it outlives the loop
            if ticker is not None:
                ticker.cancel()


async def _report_progress(attacker: Attacker, start_ns: int, progress: Progress) -> None:
    m = attacker.metrics
    while True:
        await asyncio.sleep(1.0)
        progress((time.monotonic_ns() - start_ns) / NS_PER_S, m.requests, m.requests - m.successes)


def _worker(plan: Plan, pipe: Pipe, requests: Synchronized[int], errors: Synchronized[int]) -> None:
    try:
        metrics = uvloop.run(_worker_attack(plan, pipe, requests, errors))
        pipe.send(("metrics", metrics))
    except BaseException as exc:  # noqa: BLE001 - report every failure to the parent
        pipe.send(("error", f"worker {plan.worker}: {type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


async def _worker_attack(
    plan: Plan, pipe: Pipe, requests: Synchronized[int], errors: Synchronized[int]
) -> Metrics:
    attacker = Attacker(plan)
    await attacker.warm_up()
    loop = asyncio.get_running_loop()
    # Ctrl-C reaches every worker from the terminal and again from the parent, which also
    # decides when a second one means "stop now" (it kills the workers).
    loop.add_signal_handler(signal.SIGINT, attacker.interrupt)
    pipe.send(("ready", None))
    start_ns: int = await loop.run_in_executor(None, pipe.recv)

    async def share() -> None:
        m = attacker.metrics
        while True:
            await asyncio.sleep(0.5)
            requests.value, errors.value = m.requests, m.requests - m.successes

    sharer = loop.create_task(share())
    try:
        with _attacking(attacker.metrics):
            return await attacker.run(start_ns)
    finally:
        sharer.cancel()


def _run_workers(plan: Plan, workers: int, progress: Progress | None) -> Metrics:
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
        start_ns = time.monotonic_ns() + _START_SLACK_NS
        for pipe in pipes:
            pipe.send(start_ns)
        previous = signal.signal(signal.SIGINT, _Interrupt(procs))
        merged = Metrics(interval_for(plan.duration_ns))
        pending = list(pipes)
        while pending:
            for ready in wait(pending, timeout=1.0):
                merged.merge(_expect(ready, "metrics"))
                pending = [p for p in pending if p is not ready]
            if progress is not None and pending:
                done = sum(int(r.value) for r, _ in counters)
                failed = sum(int(e.value) for _, e in counters)
                progress((time.monotonic_ns() - start_ns) / NS_PER_S, done, failed)
        return merged
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()


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


def _expect(pipe: Any, kind: str) -> Any:
    try:
        got, value = pipe.recv()
    except EOFError:
        raise WorkerFailed("a worker process exited without reporting") from None
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
