"""The capacity search is a pure function of the verdicts so far; the stop rule of metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from loadclient.capacity import FAIL, GENERATOR_LIMIT, PASS, CapacitySettings, Search
from loadclient.capacity_command import DEFAULT_MAX_ERROR_RATE, _checked
from loadclient.config import Config
from loadclient.metrics import Metrics
from loadclient.prepare import Target
from loadclient.result import STATUS, Result
from loadclient.stoprule import GENERATOR, TARGET, StopRule
from loadclient.thresholds import Thresholds

MS = 1_000_000


def _walk(search: Search, verdict_at: Callable[[int], str]) -> list[tuple[int, str]]:
    for _ in range(100):
        rate = search.next_rate()
        if rate is None:
            return search.steps
        search.record(rate, verdict_at(rate))
    raise AssertionError("the search did not end")


def _capacity(limit: int) -> Callable[[int], str]:
    return lambda rate: PASS if rate <= limit else FAIL


def test_up_then_bisect_to_precision() -> None:
    search = Search(CapacitySettings(start_rate=100, precision=0.05))
    steps = _walk(search, _capacity(300))
    assert [r for r, _ in steps] == [100, 200, 400, 300, 350, 325, 312]
    assert search.outcome == "found" and search.passed == 300 and search.failed == 312


@pytest.mark.parametrize("limit", [150, 333, 777, 5_000, 12_345])
def test_finds_within_precision(limit: int) -> None:
    search = Search(CapacitySettings(start_rate=100, max_rate=20_000, precision=0.05))
    _walk(search, _capacity(limit))
    assert search.passed <= limit < search.failed <= search.passed * 1.05 + 1
    assert len(search.steps) <= 16


def test_lowest_fails_and_max_passes() -> None:
    low = Search(CapacitySettings(start_rate=100))
    assert _walk(low, _capacity(50)) == [(100, FAIL)]
    assert low.outcome == "none-passed"
    high = Search(CapacitySettings(start_rate=100, max_rate=500))
    assert [r for r, _ in _walk(high, _capacity(10_000))] == [100, 200, 400, 500]
    assert high.outcome == "at-max-rate" and high.passed == 500


def test_the_generator_limit_ends_the_search() -> None:
    search = Search(CapacitySettings(start_rate=100))
    steps = _walk(search, lambda rate: PASS if rate < 400 else GENERATOR_LIMIT)
    assert steps == [(100, PASS), (200, PASS), (400, GENERATOR_LIMIT)]
    assert search.outcome == "generator-limit" and search.passed == 200


def test_shards_walk_the_fixed_ladder_until_a_failure() -> None:
    settings = CapacitySettings(start_rate=100, max_rate=1000, growth=1.5)
    assert settings.ladder() == [100, 150, 225, 338, 506, 759, 1000]
    search = Search(settings, fixed_ladder=True)
    assert [r for r, _ in _walk(search, _capacity(400))] == [100, 150, 225, 338, 506]
    assert search.outcome == "found" and search.passed == 338


def test_max_steps_bounds_everything() -> None:
    search = Search(CapacitySettings(start_rate=1, max_rate=10**9, max_steps=5))
    assert len(_walk(search, _capacity(10**9))) == 5


@pytest.mark.parametrize(
    "bad",
    [
        dict(start_rate=0),
        dict(start_rate=10, max_rate=5),
        dict(growth=1.0),
        dict(precision=0.0),
        dict(window_ns=0),
        dict(max_steps=0),
    ],  # fmt: skip
)
def test_settings_that_cannot_search(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CapacitySettings(**bad).validate()  # type: ignore[arg-type]


def _metrics(latencies_ms: list[float], errors: int = 0, lag_ms: float = 0.1) -> Metrics:
    m = Metrics(100 * MS)
    for i, ms in enumerate(latencies_ms):
        lag = int(lag_ms * MS)
        m.add(Result(0, lag, int(ms * MS), 200, 10, 0, STATUS if i < errors else None, "", None))
    return m


def test_stop_rule_decides_only_what_the_rest_cannot_change() -> None:
    rule = StopRule.of(Thresholds(max_p99_ns=50 * MS, max_error_rate=0.02), 1000, 20 * MS)
    assert rule.decided(_metrics([5.0] * 500 + [80.0] * 10)) is None  # 10 of 1000 may be slow
    assert rule.decided(_metrics([5.0] * 500 + [80.0] * 11)) == TARGET
    assert rule.decided(_metrics([5.0] * 100, errors=20)) is None
    assert rule.decided(_metrics([5.0] * 100, errors=21)) == TARGET
    assert rule.decided(_metrics([5.0] * 100, lag_ms=30)) == GENERATOR  # before the target
    dropped = _metrics([5.0] * 10)
    dropped.dropped = 1
    assert rule.decided(dropped) == GENERATOR


def test_errors_count_even_when_only_a_latency_objective_is_given() -> None:
    target = Target("127.0.0.1", 1, None)
    latency_only = Config(thresholds=Thresholds(max_p99_ns=50_000_000))
    checked = _checked(latency_only, target, timeout_given=True)
    assert checked.thresholds.max_error_rate == DEFAULT_MAX_ERROR_RATE
    assert checked.thresholds.max_p99_ns == 50_000_000
    given = replace(latency_only, thresholds=Thresholds(max_p99_ns=1, max_error_rate=0.2))
    assert _checked(given, target, timeout_given=True).thresholds.max_error_rate == 0.2
