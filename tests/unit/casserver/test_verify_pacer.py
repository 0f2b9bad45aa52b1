"""Verify's pacer: reads stay under the rate on average, with no clock of its own."""

from __future__ import annotations

from casserver.verify import Pacer


class Clock:
    """Clock is a manual clock that sleeping advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_sleeps_only_when_ahead_of_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(1_000_000, clock, clock.sleep)
    pacer.add(500_000)  # 0.5 s of budget read at once: wait it out
    assert clock.slept == [0.5]
    clock.now += 2.0  # slow reads meanwhile: credit, not a burst of sleeps
    pacer.add(1_000_000)
    assert clock.slept == [0.5]
    pacer.add(2_000_000)  # 3.5 MB by 2.5 s: 1 s ahead
    assert clock.slept == [0.5, 1.0]


def test_no_rate_never_sleeps() -> None:
    clock = Clock()
    pacer = Pacer(None, clock, clock.sleep)
    pacer.add(10**12)
    assert clock.slept == []
