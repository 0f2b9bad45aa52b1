"""Network faults in real namespaces: a fault fails only what needs the faulty part.

A short run of tests/faults/netfaults.py: three members, the origin and a client, each in
its own namespace on a bridge; 100 GET/s through m1 and m2 over 300 keys of 25 KB with
a small cache (most of m3's keys are not a hit), and each fault on m3 (or the origin)
for 5 s. About 50 s on a quiet machine. Needs root (skipped otherwise, with the reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.faults import netns
from tests.faults.netfaults import Settings, Summary, run, summarize

REASON = netns.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no network namespaces: {REASON}")

SETTINGS = Settings(
    rate=100,
    keys=300,
    phase_s=5.0,
    settle_s=3.0,
    phases=("member-blackhole", "member-lossy", "origin-blackhole"),
    cache_bytes=2_000_000,
    threads=128,
)


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Summary]]:
    work: Path = tmp_path_factory.mktemp("netns")
    tier, phases = run(replace(SETTINGS, workdir=work))
    yield {p.name: summarize(tier, p) for p in phases}
    netns.remove_stale()  # run() removes them; a crash in it must not leave any


def test_no_fault_no_failure(summaries: dict[str, Summary]) -> None:
    assert summaries["baseline"].failed == 0


@pytest.mark.timing
@pytest.mark.parametrize("fault", ["member-blackhole", "member-lossy"])
def test_a_member_fault_fails_nothing_and_costs_its_keys_under_a_second(
    summaries: dict[str, Summary], fault: str
) -> None:
    s = summaries[fault]
    assert s.faulty_requests > 50, s  # the fault was exercised
    assert s.failed == 0, s  # the origin is up: every blob is held somewhere
    assert s.healthy_failed == 0, s
    assert s.faulty_p99_s <= 1.0, s
    assert s.faulty_max_s <= 2.0, s
    assert s.recovered_s is not None and s.recovered_s <= 3.0, s


@pytest.mark.timing
def test_a_silent_origin_fails_misses_fast_with_retry_after(
    summaries: dict[str, Summary],
) -> None:
    s = summaries["origin-blackhole"]
    assert s.requests > 0 and s.failed < s.requests, s  # hits still answered
    assert s.failures_over_2s == 0, s
    assert s.failures_without_retry_after == 0, s
