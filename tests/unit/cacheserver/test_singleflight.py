"""Singleflight: one fill per key, errors to every waiter, bounded waits, detached fills."""

from __future__ import annotations

import threading
import time

import pytest

from cacheserver.errors import UpstreamTimeout
from cacheserver.singleflight import Flight
from tests.unit.cacheserver.fakes import wait_until_waiting


def test_sequential_calls_each_fill() -> None:
    flight: Flight[str, int] = Flight()
    calls = iter(range(10))
    assert flight.do("k", lambda: next(calls), 5)[0] == 0
    assert flight.do("k", lambda: next(calls), 5)[0] == 1
    flight.close()


def test_ten_concurrent_callers_share_one_fill() -> None:
    flight: Flight[str, str] = Flight()
    release = threading.Event()
    calls = 0
    calls_lock = threading.Lock()

    def fill() -> str:
        nonlocal calls
        with calls_lock:
            calls += 1
        release.wait(5)
        return "value"

    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(10)

    def caller() -> None:
        barrier.wait()
        results.append(flight.do("k", fill, 5))

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for t in threads:
        t.start()
    wait_until_waiting(threads)  # every caller joined the flight
    release.set()
    for t in threads:
        t.join(5)
    assert calls == 1
    assert [v for v, _ in results] == ["value"] * 10
    assert sum(1 for _, shared in results if not shared) == 1
    assert flight.in_flight() == 0
    flight.close()


def test_exception_reaches_every_waiter() -> None:
    flight: Flight[str, str] = Flight()
    release = threading.Event()

    def fill() -> str:
        release.wait(5)
        raise ValueError("origin exploded")

    errors: list[BaseException] = []

    def caller() -> None:
        try:
            flight.do("k", fill, 5)
        except ValueError as ex:
            errors.append(ex)

    threads = [threading.Thread(target=caller) for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    release.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 10
    assert all(str(e) == "origin exploded" for e in errors)
    # A failed fill is forgotten: the next call tries again.
    assert flight.do("k", lambda: "ok", 5)[0] == "ok"
    flight.close()


def test_waiter_never_hangs_on_a_stuck_fill() -> None:
    flight: Flight[str, str] = Flight()
    stuck = threading.Event()
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        flight.do("k", lambda: "late" if stuck.wait(10) else "never", 0.2)
    assert time.monotonic() - started < 2
    stuck.set()
    flight.close()


def test_fill_survives_the_caller_that_started_it() -> None:
    flight: Flight[str, str] = Flight()
    release = threading.Event()
    calls = 0

    def fill() -> str:
        nonlocal calls
        calls += 1
        release.wait(5)
        return "value"

    with pytest.raises(UpstreamTimeout):
        flight.do("k", fill, 0.05)  # the first caller gives up
    assert flight.in_flight() == 1  # ...but its fill goes on
    later: list[str] = []
    t = threading.Thread(target=lambda: later.append(flight.do("k", fill, 5)[0]))
    t.start()
    wait_until_waiting([t])
    release.set()
    t.join(5)
    assert later == ["value"]
    assert calls == 1
    flight.close()


def test_keys_are_independent() -> None:
    flight: Flight[str, str] = Flight()
    assert flight.do("a", lambda: "A", 5)[0] == "A"
    assert flight.do("b", lambda: "B", 5)[0] == "B"
    flight.close()
