"""Chaos: hits and misses through one member while another member, then the origin, fail.

Run by ``scripts/chaos.sh``. A three-member tier starts on loopback; every phase runs two
loadclient processes against member 0 at fixed rates, one asking for a cached blob (hits)
and one for fresh blobs (misses), while a fault is injected a quarter into the attack:

    baseline       no fault
    member-kill    member 1 SIGKILLed, restarted half a phase later
    origin-kill    casserver's process group SIGKILLed, restarted half a phase later
    origin-freeze  casserver's process group SIGSTOPped for --freeze, then SIGCONTed

Both clients give up on a request after the members' origin timeout + 1 s, so a miss that
takes longer to fail shows up as a client timeout. It prints the error share of hits and
of misses per phase and exits 1 when more than --max-hit-error-share of all hits failed
or any miss outlasted that bound.

Run as root, network phases follow in real namespaces (tests/faults/netfaults.py): a
member black-holed, a member losing 20 % of its packets, the origin black-holed, each for
a phase. The same rules judge them: with the origin up every blob is held in the tier, so
a failure counts as a failed hit; a request answered (or failed) after the bound counts
as a miss that outlasted it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cacheserver.config import Config as MemberConfig
from tests.faults import netfaults, netns
from tests.faults.loadrun import Load, LoadRun
from tests.tier import Tier, running

PHASES = ("baseline", "member-kill", "origin-kill", "origin-freeze")
HIT_SEED = 1  # the same hot blob every phase: cached once, a hit ever after
UPLOAD_DEADLINE_S = 120


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings are one chaos run's rates, lengths and bounds."""

    phase_s: float = 20.0
    freeze_s: float = 10.0
    hit_rate: int = 200
    miss_rate: int = 20
    size: int = 25_000
    origin_timeout_s: float = MemberConfig().origin_timeout_s  # the members' own default
    max_hit_error_share: float = 0.00005  # 0.005%
    workdir: Path | None = None
    output: Path | None = None
    network: bool = True  # the namespace phases (as root)

    @property
    def bound_s(self) -> float:
        """Bound_s is the longest a miss may take to fail: the origin timeout + 1 s."""
        return self.origin_timeout_s + 1.0


@dataclass
class Phase:
    """Phase is one phase's outcome: what the hits and misses saw and when faults happened."""

    name: str
    hits: Load
    misses: Load
    events: list[tuple[float, str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": self.hits.to_json(),
            "misses": self.misses.to_json(),
            "events": [{"at_s": round(t, 2), "event": e} for t, e in self.events],
        }


def blob_files(tier: Tier) -> int:
    return sum(1 for p in (tier.storage / "sha256").rglob("*") if p.is_file())


def fault_for(name: str, tier: Tier) -> tuple[Callable[[], object], Callable[[], object]]:
    """Fault_for returns a phase's (inject, recover) actions."""
    if name == "member-kill":
        return tier.members[1].kill, lambda: tier.start_member(1)
    if name == "origin-kill":
        return tier.origin.kill, tier.start_origin
    if name == "origin-freeze":
        origin = tier.origin
        return (lambda: origin.signal(signal.SIGSTOP)), (lambda: origin.signal(signal.SIGCONT))
    return (lambda: None), (lambda: None)


def run_phase(index: int, name: str, tier: Tier, s: Settings, workdir: Path) -> Phase:
    """Run_phase runs the two clients for one phase and injects its fault into their attack."""
    duration_s = max(s.phase_s, 2 * s.freeze_s) if name == "origin-freeze" else s.phase_s
    common = ["--cas", tier.origin_url, "--cache", tier.urls[0], "--size", str(s.size)]
    common += ["--duration", f"{duration_s:g}s", "--timeout", f"{s.bound_s:g}s"]
    before = blob_files(tier)
    misses_needed = int(s.miss_rate * duration_s)
    runs = {
        kind: LoadRun(
            [*common, "--rate", f"{rate}/1s", "--hit-ratio", ratio, "--seed", str(seed)],
            workdir / f"{index}-{name}-{kind}.json",
            workdir / f"{index}-{name}-{kind}.log",
        )
        for kind, rate, ratio, seed in (
            ("hits", s.hit_rate, "1.0", HIT_SEED),
            ("misses", s.miss_rate, "0.0", 1000 + index),
        )
    }
    # The clients upload before they attack: the fault must land in the attack, not there.
    deadline = time.monotonic() + UPLOAD_DEADLINE_S
    while blob_files(tier) < before + misses_needed and time.monotonic() < deadline:
        if any(r.proc.poll() is not None for r in runs.values()):
            break
        time.sleep(0.05)
    t0 = time.monotonic()
    events: list[tuple[float, str]] = []
    inject, recover = fault_for(name, tier)
    if name != "baseline":
        down_s = s.freeze_s if name == "origin-freeze" else duration_s / 2
        time.sleep(duration_s / 4)
        events.append((time.monotonic() - t0, "inject"))
        inject()
        time.sleep(down_s)
        events.append((time.monotonic() - t0, "recover"))
        recover()
        events.append((time.monotonic() - t0, "recovered"))
    loads = {kind: r.wait(duration_s + UPLOAD_DEADLINE_S) for kind, r in runs.items()}
    return Phase(name, loads["hits"], loads["misses"], events)


def verdict(phases: list[Phase], s: Settings) -> tuple[bool, list[str]]:
    """Verdict judges the run: the hits' error share overall, and no miss over the bound."""
    hits = sum(p.hits.requests for p in phases)
    hit_failures = sum(p.hits.failed for p in phases)
    share = hit_failures / hits if hits else 1.0
    slow_misses = sum(p.misses.timeouts for p in phases)
    lines = [
        f"hits failed: {hit_failures}/{hits} = {share:.5%} (allowed {s.max_hit_error_share:.5%})",
        f"misses over {s.bound_s:g} s (origin timeout + 1 s): {slow_misses}",
    ]
    return (hits > 0 and share <= s.max_hit_error_share and slow_misses == 0), lines


def table(phases: list[Phase]) -> str:
    """Table is the per-phase figures, hits and misses side by side."""
    rows = [
        f"{'phase':<14} {'class':<6} {'requests':>8} {'failed':>7} {'error share':>12} "
        f"{'timeouts':>8} {'p99 s':>7} {'max s':>7}  status codes"
    ]
    for p in phases:
        for kind, load in (("hits", p.hits), ("misses", p.misses)):
            rows.append(
                f"{p.name:<14} {kind:<6} {load.requests:>8} {load.failed:>7} "
                f"{load.error_share:>12.5%} {load.timeouts:>8} {load.p99_s:>7.3f} "
                f"{load.max_s:>7.3f}  {json.dumps(load.status_codes)}"
            )
    return "\n".join(rows)


NETWORK_PHASES = ("member-blackhole", "member-lossy", "origin-blackhole")


def network_phases(s: Settings, workdir: Path) -> tuple[bool, list[str]]:
    """Network_phases runs the namespace faults and judges them by the same rules."""
    reason = netns.unavailable() if s.network else "--no-network"
    if reason is not None:
        return True, [f"network phases (black holes, loss) skipped: {reason}"]
    settings = netfaults.Settings(
        rate=s.hit_rate, size=s.size, phase_s=s.phase_s, settle_s=5.0, phases=NETWORK_PHASES,
        member_env=(("CACHE_ORIGIN_TIMEOUT_S", f"{s.origin_timeout_s:g}"),),
        workdir=workdir / "netns",
    )  # fmt: skip
    tier, phases = netfaults.run(settings)
    lines = [netfaults.HEADER]
    held = failed = slow = 0
    for phase in phases:
        summary = netfaults.summarize(tier, phase)
        lines.append(summary.row())
        if phase.name != "origin-blackhole":
            held += summary.requests
            failed += summary.failed
        slow += sum(r.latency_s > s.bound_s for r in phase.results)
    share = failed / held if held else 1.0
    lines.append(f"network phases: requests failed with the origin up: {failed}/{held} = "
                 f"{share:.5%}; answered after {s.bound_s:g} s: {slow}")  # fmt: skip
    return held > 0 and share <= s.max_hit_error_share and slow == 0, lines


def run(s: Settings) -> int:
    """Run runs every phase on a fresh tier and prints and returns the verdict."""
    workdir = s.workdir or Path(tempfile.mkdtemp(prefix="cas-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    member_env = {
        "CACHE_ORIGIN_TIMEOUT_S": f"{s.origin_timeout_s:g}",
        "CACHE_PEER_BACKOFF_S": "1",
        "CACHE_NEGATIVE_TTL_S": "1",
    }
    phases: list[Phase] = []
    with running(Tier(workdir, member_env=member_env)) as tier:
        for index, name in enumerate(PHASES):
            print(f"chaos: phase {name} ...", file=sys.stderr, flush=True)
            phases.append(run_phase(index, name, tier, s, workdir))
    ok, lines = verdict(phases, s)
    print("chaos: network phases ...", file=sys.stderr, flush=True)
    net_ok, net_lines = network_phases(s, workdir)
    ok = ok and net_ok
    lines += net_lines
    print(table(phases))
    for p in phases:
        for at, event in p.events:
            print(f"  {p.name}: {event} at {at:.1f} s into the attack")
    print("\n".join(lines))
    print("PASS" if ok else "FAIL")
    result = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(s).items()},
        "phases": {p.name: p.to_json() for p in phases},
        "pass": ok,
        "verdict": lines,
        "logs": str(workdir),
    }
    if s.output:
        s.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"chaos: logs and reports in {workdir}", file=sys.stderr)
    return 0 if ok else 1


def parse_args(argv: list[str]) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(
        prog="scripts/chaos.sh",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--phase", type=float, default=d.phase_s, help="seconds per phase (%(default)s)")
    p.add_argument(
        "--freeze",
        type=float,
        default=d.freeze_s,
        help="seconds the origin is frozen (%(default)s)",
    )
    p.add_argument("--hit-rate", type=int, default=d.hit_rate, help="hits per second (%(default)s)")
    p.add_argument(
        "--miss-rate", type=int, default=d.miss_rate, help="misses per second (%(default)s)"
    )
    p.add_argument("--size", type=int, default=d.size, help="blob bytes (%(default)s)")
    p.add_argument(
        "--origin-timeout",
        type=float,
        default=d.origin_timeout_s,
        help="members' CACHE_ORIGIN_TIMEOUT_S: seconds a miss waits for the origin (%(default)s)",
    )
    p.add_argument(
        "--max-hit-error-share",
        type=float,
        default=d.max_hit_error_share,
        help="share of failed hits above which the run fails, exit 1 (%(default)s)",
    )
    p.add_argument("--workdir", type=Path, help="logs and reports (default: a temp dir)")
    p.add_argument("--output", type=Path, help="write the figures as JSON here")
    p.add_argument("--no-network", action="store_true", help="skip the namespace phases")
    a = p.parse_args(argv)
    return Settings(
        a.phase, a.freeze, a.hit_rate, a.miss_rate, a.size, a.origin_timeout,
        a.max_hit_error_share, a.workdir, a.output, not a.no_network,
    )  # fmt: skip


def main() -> int:
    return run(parse_args(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
