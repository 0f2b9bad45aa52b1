"""The staged pacer is a pure function of (elapsed, hits): table tests, no clock."""

from __future__ import annotations

import pytest

from loadclient.durations import NS_PER_S, InvalidDuration, Rate
from loadclient.pacer import ConstantPacer
from loadclient.stages import Stage, StagedPacer, format_stages, parse_stages

MS = 1_000_000
S = NS_PER_S
RAMP = StagedPacer((Stage(S, 200),))  # 0 -> 200/s over 1 s: 100 hits, N(t) = 100 t^2
UP_HOLD_DOWN = StagedPacer((Stage(S, 100), Stage(2 * S, 100), Stage(S, 0)))  # 50 + 200 + 50


def test_parse_and_format() -> None:
    stages = parse_stages("30s:100, 1m:1000,30s:0")
    assert stages == (Stage(30 * S, 100), Stage(60 * S, 1000), Stage(30 * S, 0))
    assert format_stages(stages) == "30s:100,1m0s:1000,30s:0"


@pytest.mark.parametrize("text", ["", "30s", "30s:-1", "0s:10", "x:10", "1s:nan", "1s:0,2s:0",
                                  "1s:1e308,1s:1e308,1s:1e308", "9s:1e308"])  # fmt: skip
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_stages(text)


@pytest.mark.parametrize(
    ("pacer", "hit", "due_ns"),
    [
        (RAMP, 0, 0),
        (RAMP, 1, 100 * MS),  # 100 t^2 = 1
        (RAMP, 25, 500 * MS),
        (RAMP, 99, 994_987_437),
        (UP_HOLD_DOWN, 50, S),  # the hold starts where the ramp's 50 hits end
        (UP_HOLD_DOWN, 51, S + 10 * MS),  # constant 100/s
        (UP_HOLD_DOWN, 249, 3 * S - 10 * MS),
        (UP_HOLD_DOWN, 250, 3 * S),  # the ramp down: 100 t - 50 t^2
        (UP_HOLD_DOWN, 299, 3 * S + 858_578_644),
    ],
)
def test_due_times(pacer: StagedPacer, hit: int, due_ns: int) -> None:
    assert pacer.due_ns(hit) == due_ns


@pytest.mark.parametrize(
    ("pacer", "elapsed_ns", "hits", "want"),
    [
        (RAMP, 0, 0, (0, False)),
        (RAMP, 0, 1, (100 * MS, False)),
        (RAMP, 150 * MS, 1, (0, False)),  # behind: send now, never skip
        (RAMP, S, 100, (0, True)),  # all 100 sent
        (UP_HOLD_DOWN, 2 * S, 150, (0, False)),
        (UP_HOLD_DOWN, 2 * S, 160, (100 * MS, False)),
        (UP_HOLD_DOWN, 9 * S, 300, (0, True)),
    ],
)
def test_pace(pacer: StagedPacer, elapsed_ns: int, hits: int, want: tuple[int, bool]) -> None:
    assert pacer.pace(elapsed_ns, hits) == want


def test_totals_and_rates() -> None:
    assert RAMP.total_hits() == 100
    assert UP_HOLD_DOWN.total_hits() == 300
    assert UP_HOLD_DOWN.duration_ns == 4 * S
    assert UP_HOLD_DOWN.rate_at(500 * MS) == 50
    assert UP_HOLD_DOWN.rate_at(2 * S) == 100
    assert UP_HOLD_DOWN.rate_at(3 * S + 500 * MS) == 50
    assert UP_HOLD_DOWN.hits_by(2 * S) == 150
    assert UP_HOLD_DOWN.expected_hits(2 * S) == 151  # hits 0..150 are due by then
    assert UP_HOLD_DOWN.stage_spans() == [(0, S), (S, 3 * S), (3 * S, 4 * S)]


def test_due_times_never_go_back_and_fill_each_stage() -> None:
    pacer = StagedPacer(parse_stages("1s:1000,500ms:1000,2s:0,1s:0,1s:300"))
    dues = [pacer.due_ns(k) for k in range(pacer.total_hits())]
    assert dues == sorted(dues)
    assert dues[-1] < pacer.duration_ns
    assert not [d for d in dues if 3_500 * MS <= d < 4_500 * MS]  # the stage at 0 sends none
    for a, b in pacer.stage_spans():
        in_stage = sum(1 for d in dues if a <= d < b)
        assert abs(in_stage - (pacer.hits_by(b) - pacer.hits_by(a))) <= 1


def test_a_constant_stage_is_the_constant_pacer() -> None:
    constant = ConstantPacer(Rate(300), 2 * S)
    staged = StagedPacer((Stage(1, 300), Stage(2 * S - 1, 300)))  # up in 1 ns, then hold
    assert staged.total_hits() == constant.total_hits()
    for k in range(0, 600, 37):
        assert abs(staged.due_ns(k) - constant.due_ns(k)) <= 1
