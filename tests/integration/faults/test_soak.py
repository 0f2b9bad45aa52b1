"""A short soak (scripts/soak.sh's module): many blobs through a real tier, RSS sampled."""

from __future__ import annotations

import pytest

from tests.integration.faults.conftest import ScriptRun, run_script

CACHE_BYTES = 8 << 20
SHORT = ["--duration", "15", "--rate", "20", "--size", "50000", "--hit-ratio", "0.1"]
SHORT += ["--cache-bytes", str(CACHE_BYTES), "--sample", "0.5"]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> ScriptRun:
    """Soak runs the short soak once for the tests of this module."""
    return run_script("tests.faults.soak", SHORT, tmp_path_factory.mktemp("soak"))


@pytest.mark.timeout(300)
def test_soak_pushes_more_than_the_tier_holds_and_samples_every_member(
    soak: ScriptRun,
) -> None:
    code, result, stdout = soak.code, soak.result, soak.stdout
    # More distinct bytes went through than the three members can hold together.
    assert result["loaded_bytes"] > 1.5 * 3 * CACHE_BYTES
    assert len(result["members"]) == 3
    for member in result["members"]:
        assert member["load"]["requests"] == 300 and member["load"]["failed"] == 0
        assert member["evictions"] > 0  # the budget was reached, so the bound was tested
        assert member["samples"] >= 10
        assert 0 < member["idle_rss"] <= member["peak_rss"]
        assert member["bound"] == member["idle_rss"] + int(1.5 * CACHE_BYTES)
        assert f"{member['peak_rss'] / (1 << 20):.1f}" in stdout  # the figure is printed
    assert ("PASS" in stdout) == result["pass"] == (code == 0)


@pytest.mark.timeout(300)
def test_soak_keeps_every_member_within_idle_plus_one_and_a_half_cache_bytes(
    soak: ScriptRun,
) -> None:
    result, stdout = soak.result, soak.stdout
    assert all(m["peak_rss"] <= m["bound"] for m in result["members"]), stdout
