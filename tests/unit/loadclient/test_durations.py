"""Go-style durations and Vegeta-style rates."""

from __future__ import annotations

import pytest

from loadclient.durations import (
    InvalidDuration,
    Rate,
    format_duration,
    parse_duration_ns,
    parse_rate,
    parse_seconds_ns,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10s", 10_000_000_000),
        ("500ms", 500_000_000),
        ("1m30s", 90_000_000_000),
        ("1h", 3_600_000_000_000),
        ("1.5s", 1_500_000_000),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("7ns", 7),
        ("0", 0),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "1s 2s", "-1s", "ten seconds"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_duration_ns(text)


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100", Rate(100)),
        ("100/1s", Rate(100)),
        ("100/s", Rate(100)),
        ("5/100ms", Rate(5, 100_000_000)),
        ("60/1m", Rate(60, 60_000_000_000)),
        ("0", Rate(0)),
    ],
)
def test_parse_rate(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "-5/1s", "5/0s", "5/x"])
def test_parse_rate_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_rate(text)


def test_rate_per_second_and_str() -> None:
    assert Rate(5, 100_000_000).per_second == 50.0
    assert str(Rate(100)) == "100/1s"


def test_seconds_accept_numbers_and_durations() -> None:
    assert parse_seconds_ns("10") == 10_000_000_000
    assert parse_seconds_ns("2.5") == 2_500_000_000
    assert parse_seconds_ns("3s") == 3_000_000_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (1_713_214, "1.713214ms"),
        (10_094_965_987, "10.094965987s"),
        (90_000_000_000, "1m30s"),
        (3_723_000_000_000, "1h2m3s"),
    ],
)
def test_format_duration_like_go(ns: int, text: str) -> None:
    assert format_duration(ns) == text
