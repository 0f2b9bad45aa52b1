"""The attacker's tick with a fake clock and timer: what it sends, and when it wakes next."""

from __future__ import annotations

import pytest

import loadclient.attacker as attacker_module
from loadclient.attacker import GRACE_NS, Attacker
from loadclient.durations import NS_PER_S, Rate
from loadclient.exchange import Exchange
from loadclient.plan import Plan

MS = 1_000_000
START = 7 * NS_PER_S  # any monotonic time


class FakeClock:
    """FakeClock stands in for the time module inside loadclient.attacker."""

    def __init__(self) -> None:
        self.now_ns = START

    def monotonic_ns(self) -> int:
        return self.now_ns


class FakeTimer:
    def __init__(self) -> None:
        self.wakes: list[int] = []

    def wake_at(self, due_ns: int) -> None:
        self.wakes.append(due_ns)

    def close(self) -> None:
        pass


class FakeConnection:
    """FakeConnection records what it was asked to send, and when that was due."""

    def __init__(self, sent: list[tuple[int, int]]) -> None:
        self.sent = sent

    def send(self, ex: Exchange) -> None:
        self.sent.append((ex.hit, ex.due_ns - START))


def attacker_at(
    monkeypatch: pytest.MonkeyPatch,
    rate: Rate,
    worker: int = 0,
    workers: int = 1,
    shard: int = 0,
    shards: int = 1,
    idle: int = 20,
) -> tuple[Attacker, FakeClock, FakeTimer, list[tuple[int, int]]]:
    plan = Plan(
        host="127.0.0.1", port=1, hot=b"x", hot_digest="d", rate=rate, duration_ns=10 * MS,
        worker=worker, workers=workers, shard=shard, shards=shards,
    )  # fmt: skip
    clock, timer, sent = FakeClock(), FakeTimer(), []
    monkeypatch.setattr(attacker_module, "time", clock)
    a = Attacker(plan)
    a.start_ns = START
    a._timer = timer
    a.pool.idle = [FakeConnection(sent) for _ in range(idle)]  # type: ignore[misc]
    return a, clock, timer, sent


def tick_at(a: Attacker, clock: FakeClock, elapsed_ns: int) -> None:
    clock.now_ns = START + elapsed_ns
    a._tick_unsafe()


def test_tick_sends_all_that_is_due_and_wakes_at_the_next_due_ns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(3, 2 * MS))  # every 666_666 ns
    tick_at(a, clock, 1_500_000)
    # Hits 0, 1, 2 are due by 1.5 ms: all in one go, each with its own exact due time.
    assert sent == [(0, 0), (1, 666_666), (2, 1_333_333)]
    # The next wake-up is hit 3's due time to the nanosecond, not rounded to a whole ms.
    assert timer.wakes == [START + 2_000_000]
    tick_at(a, clock, 2_000_000)
    assert sent[3:] == [(3, 2_000_000)]
    assert timer.wakes[1:] == [START + 2_666_666]


def test_tick_before_anything_is_due_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000))
    tick_at(a, clock, -3 * MS)  # woken early (never by a timer; but harmless)
    assert sent == [] and timer.wakes == [START]


def test_late_tick_keeps_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tick that comes late sends the overdue hits with their own due times (latency from
    # due, no coordinated omission) and does not shift the ones after them.
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000))
    tick_at(a, clock, 3_400_000)
    assert sent == [(0, 0), (1, MS), (2, 2 * MS), (3, 3 * MS)]
    assert timer.wakes == [START + 4 * MS]


def test_workers_share_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000), worker=1, workers=3)
    tick_at(a, clock, 5 * MS)
    assert sent == [(1, MS), (4, 4 * MS)]
    assert timer.wakes == [START + 7 * MS]


def test_last_tick_stops_without_a_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000))  # 10 hits in 10 ms
    tick_at(a, clock, 9 * MS)
    assert [hit for hit, _ in sent] == list(range(10))
    assert timer.wakes == []
    assert a._sending is False


def test_answer_cut_short_counts_as_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Like vegeta, whose result keeps code 0 and no bytes when the body cannot be read: a
    # status line followed by a close or a stall is not a 200 in status_codes.
    a, clock, _, _ = attacker_at(monkeypatch, Rate(100))
    conn = a.idle.pop()
    for kind in ("protocol", "timeout"):
        ex = Exchange(0, START, b"GET", "d", b"x" * 10)
        ex.sent_ns, ex.status, ex.bytes_in = START + 1, 200, 4
        clock.now_ns = START + 5 * MS
        a.failed(conn, ex, kind, "connection closed before a full response")  # type: ignore[arg-type]
    m = a.metrics
    assert m.status_codes == {0: 2} and m.bytes_in == 0 and m.successes == 0
    assert m.error_counts["protocol"] == 1 and m.error_counts["timeout"] == 1


def test_interrupt_stops_sending_and_drops_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    a, clock, _, sent = attacker_at(monkeypatch, Rate(1000))
    clock.now_ns = START + 2 * MS
    a._tick()
    assert len(sent) == 3
    a.queue.append((3, START + 3 * MS))
    a.interrupt()
    clock.now_ns = START + 5 * MS
    a._tick()
    assert len(sent) == 3 and not a.queue and a.metrics.interrupted
    assert a.metrics.dropped == 1  # the queued one was due and never sent


def test_shards_and_workers_split_one_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shard 1 of 2, worker 0 of 2: hits 1, 5, 9 (shard k mod 2, then its workers in turn).
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000), worker=0, workers=2,
                                        shard=1, shards=2)  # fmt: skip
    tick_at(a, clock, 9 * MS)
    assert sent == [(1, MS), (5, 5 * MS), (9, 9 * MS)] and a._sending is False


def test_what_is_unsent_when_the_window_closes_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two connections, a limit of two: hits 2 and 3 queue; the window closes before 4..9.
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000), idle=2)
    a.pool.limit = 2
    tick_at(a, clock, 3 * MS)
    assert [hit for hit, _ in sent] == [0, 1] and len(a.queue) == 2
    tick_at(a, clock, 10 * MS + GRACE_NS)  # the timer came late: nothing more is sent
    assert [hit for hit, _ in sent] == [0, 1] and not a.queue and a._sending is False
    assert a.metrics.dropped == 2 + 6 and a.metrics.requests == 0
    assert a.metrics.pool_waits == 2


def test_a_late_tick_within_the_grace_still_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    a, clock, timer, sent = attacker_at(monkeypatch, Rate(1000))
    tick_at(a, clock, 10 * MS + GRACE_NS - 1)
    assert len(sent) == 10 and a.metrics.dropped == 0


def test_successes_reach_the_metrics_between_requests_or_at_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A flush pauses the loop: the open model flushes in a gap before the next due time
    # that is long enough for it, and no batch grows past the cap.
    a, clock, _, _ = attacker_at(monkeypatch, Rate(1000))  # a request every ms
    success = (START, START + 1, START + 2, 1, None, -1)
    a.recorder.batch = [success] * 15
    tick_at(a, clock, 0)  # too few to be worth a flush
    assert a.metrics.requests == 0
    a.recorder.batch.append(success)
    tick_at(a, clock, 999_000)  # 16 wait, but hit 1 is due in 1 µs: too short a gap
    assert a.metrics.requests == 0 and len(a.recorder.batch) == 16
    tick_at(a, clock, MS + 1_000)  # hit 2 is due in 999 µs: time for 16
    assert a.metrics.requests == 16 and a.recorder.batch == []
    a.recorder.batch = [success] * 127
    ex = Exchange(0, START, b"GET", "d", b"x")
    ex.sent_ns, ex.status, ex.bytes_in = START + 1, 200, 1
    a.recorder.success(ex, START + 2)  # the 128th: flushed whatever the schedule
    assert a.metrics.requests == 16 + 128 and a.recorder.batch == []
