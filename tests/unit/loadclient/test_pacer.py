"""The pacer is a pure function of (elapsed, hits): table tests, no clock."""

from __future__ import annotations

import pytest

from loadclient.durations import NS_PER_S, Rate
from loadclient.pacer import ConstantPacer

MS = 1_000_000
P_200 = ConstantPacer(Rate(200), 2 * NS_PER_S)  # one hit every 5 ms for 2 s


@pytest.mark.parametrize(
    ("pacer", "elapsed_ns", "hits", "want"),
    [
        (P_200, 0, 0, (0, False)),  # the first hit is due at once
        (P_200, 0, 1, (5 * MS, False)),  # the second 5 ms later
        (P_200, 3 * MS, 1, (2 * MS, False)),
        (P_200, 5 * MS, 1, (0, False)),  # exactly due
        (P_200, 50 * MS, 2, (0, False)),  # behind: send now, never skip
        (P_200, 50 * MS, 20, (50 * MS, False)),  # ahead: wait for the schedule
        (P_200, 1_995 * MS, 399, (0, False)),  # the last hit
        (P_200, 1_995 * MS, 400, (0, True)),  # 400 hits in 2 s: done
        (P_200, 10 * NS_PER_S, 400, (0, True)),
        (ConstantPacer(Rate(5, 100 * MS), NS_PER_S), 0, 1, (20 * MS, False)),  # 5/100ms
        (ConstantPacer(Rate(3), NS_PER_S), 0, 1, (333_333_333, False)),  # rounds down
        (ConstantPacer(Rate(3), NS_PER_S), 0, 2, (666_666_666, False)),  # no drift
        (ConstantPacer(Rate(0), NS_PER_S), 0, 0, (0, True)),  # invalid: stop
        (ConstantPacer(Rate(100), 0), 0, 0, (0, True)),  # no duration: stop
    ],
)
def test_pace(pacer: ConstantPacer, elapsed_ns: int, hits: int, want: tuple[int, bool]) -> None:
    assert pacer.pace(elapsed_ns, hits) == want


@pytest.mark.parametrize(
    ("rate", "duration_ns", "want"),
    [
        (Rate(200), 2 * NS_PER_S, 400),
        (Rate(1), NS_PER_S, 1),
        (Rate(3), NS_PER_S, 3),
        (Rate(1, 2 * NS_PER_S), 3 * NS_PER_S, 2),  # due at 0 s and 2 s
        (Rate(7), 1_500 * MS, 11),  # ceil(10.5)
        (Rate(100_000), 10 * NS_PER_S, 1_000_000),
        (Rate(0), NS_PER_S, 0),
    ],
)
def test_total_hits(rate: Rate, duration_ns: int, want: int) -> None:
    assert ConstantPacer(rate, duration_ns).total_hits() == want


@pytest.mark.parametrize(
    ("elapsed_ns", "want"),
    [(-1, 0), (0, 1), (4 * MS, 1), (5 * MS, 2), (999 * MS, 200), (5 * NS_PER_S, 400)],
)
def test_expected_hits(elapsed_ns: int, want: int) -> None:
    assert P_200.expected_hits(elapsed_ns) == want


def test_due_times_never_drift() -> None:
    p = ConstantPacer(Rate(3), 10 * NS_PER_S)
    assert [p.due_ns(k) for k in (0, 3, 6, 29)] == [0, NS_PER_S, 2 * NS_PER_S, 9_666_666_666]
