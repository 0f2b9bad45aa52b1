"""A short soak (scripts/soak.sh's module): many blobs through a real tier, RSS sampled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CACHE_BYTES = 8 << 20
SHORT = ["--duration", "15", "--rate", "20", "--size", "50000", "--hit-ratio", "0.1"]
SHORT += ["--cache-bytes", str(CACHE_BYTES), "--sample", "0.5"]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    """Soak runs the short soak once and returns its exit code, JSON and stdout."""
    work = tmp_path_factory.mktemp("soak")
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.soak", *SHORT, "--workdir", str(work / "run"),
         "--output", str(work / "soak.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return done.returncode, json.loads((work / "soak.json").read_text()), done.stdout


@pytest.mark.timeout(300)
def test_soak_pushes_more_than_the_tier_holds_and_samples_every_member(
    soak: tuple[int, dict[str, Any], str],
) -> None:
    code, result, stdout = soak
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
@pytest.mark.xfail(
    reason="today's cacheserver peaks at ~1.4-1.6x CACHE_BYTES over idle with 50 KB blobs "
    "(allocator slack, values copied on fill); issue 8's memory work brings it within 1.5x",
    strict=False,
)
def test_soak_keeps_every_member_within_idle_plus_one_and_a_half_cache_bytes(
    soak: tuple[int, dict[str, Any], str],
) -> None:
    _, result, stdout = soak
    assert all(m["peak_rss"] <= m["bound"] for m in result["members"]), stdout
