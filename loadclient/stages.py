"""Stages: a rate schedule of linear ramps (`--stages 30s:100,60s:1000,30s:0`), like k6's
ramping arrival rate, and its pacer, a pure function of elapsed time and hits.

Stage i ramps linearly from the previous stage's rate (the first from 0) to its own over
its duration. Hit k is due when the schedule's cumulative count N(t) (the integral of the
rate) reaches k, as ConstantPacer's hit k is due at k/rate; so a ramp from r0 to r1 over T
makes (r0 + r1) / 2 * T hits, and a constant stage (r0 == r1) is exactly a constant rate.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from loadclient.durations import NS_PER_S, InvalidDuration, format_duration, parse_duration_ns


@dataclass(frozen=True, slots=True)
class Stage:
    """Stage ramps linearly to rate_per_s (from the previous stage's rate) over duration_ns."""

    duration_ns: int
    rate_per_s: float

    def __str__(self) -> str:
        return f"{format_duration(self.duration_ns)}:{self.rate_per_s:g}"


def parse_stages(text: str) -> tuple[Stage, ...]:
    """Parse_stages reads `DUR:RATE[,DUR:RATE...]`, e.g. `30s:100,60s:1000,30s:0`."""
    stages = []
    for part in text.split(","):
        dur, sep, rate = part.strip().partition(":")
        try:
            per_s = float(rate)
        except ValueError:
            per_s = -1.0
        if not sep or not math.isfinite(per_s) or per_s < 0:
            raise InvalidDuration(f"invalid stage {part!r} in --stages (want e.g. 30s:100)")
        duration_ns = parse_duration_ns(dur)
        if duration_ns <= 0:
            raise InvalidDuration(f"stage {part!r} needs a positive duration")
        stages.append(Stage(duration_ns, per_s))
    if not any(s.rate_per_s for s in stages):
        raise InvalidDuration("--stages must have a rate above 0 somewhere")
    # Each rate is finite, but the schedule's count of hits can still overflow a float.
    if not math.isfinite(StagedPacer(tuple(stages)).hits_by(sum(s.duration_ns for s in stages))):
        raise InvalidDuration(f"--stages {text!r} offers more requests than can be counted")
    return tuple(stages)


def format_stages(stages: tuple[Stage, ...]) -> str:
    """Format_stages writes stages back as parse_stages reads them."""
    return ",".join(str(s) for s in stages)


class StagedPacer:
    """StagedPacer makes hit k due when the ramps' cumulative count reaches k."""

    __slots__ = ("stages", "duration_ns", "_starts_ns", "_before", "_from", "_total", "_hits",
                 "_memo")  # fmt: skip

    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages
        self._starts_ns: list[int] = []  # when each stage starts
        self._before: list[float] = []  # hits due before each stage (fractional)
        self._from: list[float] = []  # each stage's starting rate
        t, n, rate = 0, 0.0, 0.0
        for s in stages:
            self._starts_ns.append(t)
            self._before.append(n)
            self._from.append(rate)
            n += (rate / 2 + s.rate_per_s / 2) * (s.duration_ns / NS_PER_S)
            t += s.duration_ns
            rate = s.rate_per_s
        self.duration_ns = t
        self._total = n
        self._hits = math.ceil(n - 1e-9) if math.isfinite(n) else 0  # parse_stages refuses inf
        # The attacker asks pace() and then due_ns() of the same hit: solve once for both.
        self._memo = (-1, 0)

    def hits_by(self, elapsed_ns: int) -> float:
        """Hits_by is the cumulative count N(elapsed): how many hits the schedule offers by then."""
        if elapsed_ns <= 0:
            return 0.0
        if elapsed_ns >= self.duration_ns:
            return self._total
        i = bisect.bisect_right(self._starts_ns, elapsed_ns) - 1
        s, r0 = self.stages[i], self._from[i]
        t = (elapsed_ns - self._starts_ns[i]) / NS_PER_S
        slope = (s.rate_per_s - r0) / (s.duration_ns / NS_PER_S)
        return self._before[i] + r0 * t + slope * t * t / 2

    def rate_at(self, elapsed_ns: int) -> float:
        """Rate_at is the offered rate (per second) at elapsed_ns."""
        if elapsed_ns < 0 or elapsed_ns >= self.duration_ns:
            return 0.0
        i = bisect.bisect_right(self._starts_ns, elapsed_ns) - 1
        s, r0 = self.stages[i], self._from[i]
        return r0 + (s.rate_per_s - r0) * (elapsed_ns - self._starts_ns[i]) / s.duration_ns

    def due_ns(self, hit: int) -> int:
        """Due_ns is when hit (0-based) is due, in nanoseconds after the start."""
        memo = self._memo
        if memo[0] == hit:
            return memo[1]
        due = self._solve(hit)
        self._memo = (hit, due)
        return due

    def _solve(self, hit: int) -> int:
        # The stage whose cumulative count passes `hit` (a stage at rate 0 passes none).
        i = max(0, bisect.bisect_right(self._before, hit) - 1)
        s, r0 = self.stages[i], self._from[i]
        d = hit - self._before[i]
        if d <= 0:
            return self._starts_ns[i]
        # Solve r0 t + a t^2 / 2 = d for t >= 0 in the form that stays exact when a is ~0.
        a = (s.rate_per_s - r0) / (s.duration_ns / NS_PER_S)
        t = 2 * d / (r0 + math.sqrt(max(0.0, r0 * r0 + 2 * a * d)))
        return self._starts_ns[i] + min(s.duration_ns, round(t * NS_PER_S))

    def total_hits(self) -> int:
        """Total_hits is how many hits fall due before the last stage ends."""
        return self._hits

    def expected_hits(self, elapsed_ns: int) -> int:
        """Expected_hits is how many hits are due by elapsed_ns (capped at total_hits)."""
        if elapsed_ns < 0:
            return 0
        return min(math.floor(self.hits_by(elapsed_ns) + 1e-9) + 1, self.total_hits())

    def pace(self, elapsed_ns: int, hits: int) -> tuple[int, bool]:
        """Pace returns how long to wait before the next hit and whether the attack is over."""
        if hits >= self._hits:
            return 0, True
        return max(0, self.due_ns(hits) - elapsed_ns), False

    def stage_spans(self) -> list[tuple[int, int]]:
        """Stage_spans are each stage's (start, end) in nanoseconds after the start."""
        return [(t, t + s.duration_ns) for t, s in zip(self._starts_ns, self.stages, strict=True)]
