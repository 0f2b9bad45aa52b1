"""Bulkheads, health and hedges: pure parts, with a fake clock and no sockets."""

from __future__ import annotations

import threading

import pytest

from cacheserver.errors import ConnectFailed, FirstByteTimeout, Full, Overloaded, UpstreamTimeout
from cacheserver.gate import Gate, KeyedGate, RouteGates
from cacheserver.health import Health, State
from cacheserver.hedge import BACKUP, PRIMARY, HedgeBudget, Hedger
from cacheserver.ring import Ring
from cacheserver.stats import Stats


def test_waiters_for_one_key_share_one_place() -> None:
    gate = KeyedGate(1, "misses")
    for _ in range(16):
        gate.enter("a")
    with pytest.raises(Overloaded):
        gate.enter("b")
    for _ in range(16):
        gate.leave("a")
    gate.enter("b")
    assert gate.stats().in_use == 1 and gate.stats().rejected == 1


def test_one_upstream_takes_at_most_its_share_of_the_miss_places() -> None:
    gates = RouteGates(6, "misses")
    slow = gates.gate("http://m3:18002")
    for key in "abcd":
        slow.enter(key)
    with pytest.raises(Overloaded):
        slow.enter("e")  # its share (4 of 6) is taken
    origin = gates.gate("origin")
    origin.enter("f")
    origin.enter("g")
    with pytest.raises(Overloaded):
        origin.enter("h")  # all six taken
    assert [s.in_use for s in gates.stats()] == [6, 4, 2]
    for key in "abcd":
        slow.leave(key)
    for key in "hijk":
        origin.enter(key)  # the origin, every key's last resort, may take them all


def test_a_bulkhead_raises_its_own_error() -> None:
    gate = Gate(1, "origin", Full)
    gate.enter()
    with pytest.raises(Full):
        gate.enter()


def _watched(now: list[float]) -> Health:
    health = Health("p", 2.0, heard_window_s=1.0, clock=lambda: now[0])
    health.watched = True  # a prober brings it back
    return health


def test_a_silent_upstream_is_backed_off_until_a_probe_answers() -> None:
    now = [100.0]
    health = _watched(now)

    def silent() -> None:
        raise FirstByteTimeout("silent")

    health.answered(0.01)
    now[0] += 0.5
    with pytest.raises(FirstByteTimeout):
        health.track(silent)
    assert health.available()  # heard from half a second ago: busy, not silent
    now[0] += 1.0
    with pytest.raises(FirstByteTimeout):
        health.track(silent)
    assert health.state() is State.DOWN
    now[0] += 10
    assert not health.available()  # no request finds out: only a probe
    health.probed(True)
    assert health.available()


def test_probe_answers_do_not_excuse_a_peer_whose_requests_time_out() -> None:
    # A peer whose /healthz answers (every 0.5 s) but whose blob requests all stall was never
    # backed off: each probe counted as "heard from", so each timeout looked like a busy peer.
    now = [100.0]
    health = _watched(now)
    health.probed(True)
    now[0] += 0.3
    with pytest.raises(UpstreamTimeout):
        health.track(lambda: _raise(UpstreamTimeout("read timeout")))
    assert health.state() is State.DOWN and health.last_cause == "read timeout"


def _raise(exc: Exception) -> None:
    raise exc


def test_a_connect_failure_backs_off_at_once() -> None:
    health = Health("p", 2.0, heard_window_s=1.0)
    health.answered()

    def refused() -> None:
        raise ConnectFailed("connect timeout")

    with pytest.raises(ConnectFailed):
        health.track(refused)
    assert not health.available()
    assert "connect timeout" in health.last_cause


def test_slow_answers_back_an_upstream_off() -> None:
    health = Health("p", 2.0, heard_window_s=1.0, slow_s=0.5)
    for _ in range(7):
        health.answered(0.9)
    assert health.available()  # too few samples to tell
    health.answered(0.9)
    assert not health.available()


def test_the_hedge_delay_follows_recent_latency_within_bounds() -> None:
    health = Health("p", 2.0, heard_window_s=1.0)
    assert health.hedge_delay_s(0.3) == 0.3  # nothing known yet
    for _ in range(20):
        health.answered(0.05)
    assert health.hedge_delay_s(0.3) == pytest.approx(0.1)
    for _ in range(64):
        health.answered(0.001)
    assert health.hedge_delay_s(0.3) == 0.02  # the floor


def test_the_hedge_budget_is_a_share_of_requests_plus_a_rate() -> None:
    now = [0.0]
    budget = HedgeBudget(ratio=0.1, min_per_s=1.0, burst=2.0, clock=lambda: now[0])
    assert budget.take() and budget.take() and not budget.take()
    for _ in range(10):
        budget.deposit()
    assert budget.take() and not budget.take()
    now[0] += 1.0
    assert budget.take()


def test_a_hedge_answers_for_a_silent_primary_and_counts() -> None:
    stats = Stats()
    hedger: Hedger[str] = Hedger(HedgeBudget(0.1, 5.0), 0.05, stats)
    release = threading.Event()

    def silent() -> str:
        release.wait(5)
        return "owner"

    assert hedger.run(silent, lambda: "origin", 0.02) == ("origin", BACKUP)
    release.set()
    assert hedger.run(lambda: "owner", lambda: "origin", 0.5) == ("owner", PRIMARY)
    counts = stats.snapshot()
    assert (counts["HedgesFired"], counts["HedgesWon"]) == (1, 1)
    hedger.close()


def test_every_member_agrees_on_the_fallback_order() -> None:
    members = [f"http://m{i}:18002" for i in range(5)]
    a, b = Ring(members), Ring(reversed(members))
    for n in range(200):
        key = f"{n:064x}"
        order = a.successors(key)
        assert order == b.successors(key) and sorted(order) == sorted(members)
        assert order[0] == a.owner(key)
