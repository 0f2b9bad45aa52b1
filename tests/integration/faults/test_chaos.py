"""A short chaos run (scripts/chaos.sh's module) against a real tier: figures and verdict."""

from __future__ import annotations

import pytest

from tests.integration.faults.conftest import ScriptRun, run_script

SHORT = ["--phase", "6", "--freeze", "3", "--hit-rate", "100", "--miss-rate", "10"]
# The namespace phases are tests/integration/faults/test_netns.py's: not run twice in CI.
SHORT += ["--origin-timeout", "1", "--no-network"]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> ScriptRun:
    """Chaos runs the short chaos once for the tests of this module."""
    return run_script("tests.faults.chaos", SHORT, tmp_path_factory.mktemp("chaos"))


@pytest.mark.timeout(300)
def test_chaos_measures_each_fault_and_reports_hits_and_misses_apart(
    chaos: ScriptRun,
) -> None:
    code, result, stdout = chaos.code, chaos.result, chaos.stdout
    phases = result["phases"]
    assert list(phases) == ["baseline", "member-kill", "origin-kill", "origin-freeze"]
    for name, phase in phases.items():
        # Both clients ran their whole schedule: 6 s at 100/s and at 10/s.
        assert phase["hits"]["requests"] == 600, name
        assert phase["misses"]["requests"] == 60, name
        assert phase["hits"]["cache"].get("miss", 0) == 0, name  # the hot blob stays cached
        assert [e["event"] for e in phase["events"]] == (
            [] if name == "baseline" else ["inject", "recover", "recovered"]
        )
    assert phases["baseline"]["hits"]["failed"] == phases["baseline"]["misses"]["failed"] == 0
    # While casserver was dead, misses through member 0 failed fast: 502 for the first that
    # found it gone, then 503 while it was backed off (until a probe found it back).
    origin_kill = phases["origin-kill"]["misses"]
    assert 0 < origin_kill["failed"] < 60 and origin_kill["timeouts"] == 0
    codes = origin_kill["status_codes"]
    assert codes.get("502", 0) + codes.get("503", 0) == origin_kill["failed"]
    # The verdict and exit code agree with the figures printed.
    assert ("PASS" in stdout) == result["pass"] == (code == 0)
    for line in result["verdict"]:
        assert line in stdout


@pytest.mark.timing
@pytest.mark.timeout(300)
def test_chaos_injects_each_fault_inside_the_attack(chaos: ScriptRun) -> None:
    for name, phase in chaos.result["phases"].items():
        for event in phase["events"][:2]:  # a restart may finish after the attack ends
            assert 0 < event["at_s"] < 6, (name, event)


@pytest.mark.timeout(300)
def test_chaos_holds_the_hit_and_miss_bounds(chaos: ScriptRun) -> None:
    assert chaos.code == 0, chaos.stdout
