"""`loadclient capacity`'s search: which constant rate to try next, as a pure function of
the verdicts so far (table-tested with no clock or server).

One generator searches upward (start, start*growth, ... up to max) until a step fails,
then bisects between the highest pass and the lowest failure until they are within
`precision`. Sharded generators cannot bisect (each step's verdict needs the merged result),
so they walk a fixed ladder, agreed in advance from the same settings, and stop at the
first failure each sees. A step the generator could not keep ends the search: above it,
only the generator is measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from loadclient.durations import NS_PER_S

PASS: Final = "pass"
FAIL: Final = "fail"
GENERATOR_LIMIT: Final = "generator-limit"
VERDICTS: Final = (PASS, FAIL, GENERATOR_LIMIT)


@dataclass(frozen=True, slots=True)
class CapacitySettings:
    """CapacitySettings are the search's knobs; the defaults finish in about 1-3 minutes."""

    start_rate: int = 100  # --start-rate: the first (lowest) rate tried, per second
    max_rate: int = 20_000  # --max-rate: never offer more than this, per second
    growth: float = 2.0  # --growth: each upward step (and ladder rung) multiplies the rate
    precision: float = 0.05  # --precision: bisect until the fail/pass rates are this close
    warm_up_ns: int = 2 * NS_PER_S  # --warm-up: sent before each step's window, not judged
    window_ns: int = 5 * NS_PER_S  # --step-window: the steady window each step is judged on
    max_steps: int = 30  # --max-steps: a bound on the search whatever happens

    def validate(self) -> CapacitySettings:
        """Validate raises ValueError for settings that cannot search, else returns self."""
        if not 1 <= self.start_rate <= self.max_rate:
            raise ValueError("need 1 <= --start-rate <= --max-rate")
        if self.growth <= 1.0 or not 0.0 < self.precision < 1.0:
            raise ValueError("need --growth > 1 and 0 < --precision < 1")
        if self.window_ns <= 0 or self.warm_up_ns < 0 or self.max_steps < 1:
            raise ValueError("need a positive --step-window, --warm-up >= 0, --max-steps >= 1")
        return self

    def ladder(self) -> list[int]:
        """Ladder is the fixed rates sharded generators walk: start, *growth, ..., max."""
        rates: list[int] = []
        rate = float(self.start_rate)
        while len(rates) < self.max_steps:
            rates.append(min(self.max_rate, round(rate)))
            if rates[-1] >= self.max_rate:
                break
            rate = max(rate * self.growth, rates[-1] + 1)
        return rates


@dataclass(slots=True)
class Search:
    """Search proposes the next rate from the verdicts so far; next_rate() None: done."""

    settings: CapacitySettings
    fixed_ladder: bool = False
    passed: int = 0  # the highest rate that passed (0: none yet)
    failed: int = 0  # the lowest rate that failed (0: none yet)
    generator_limit: int = 0  # the rate the generator could not keep (0: it kept every one)
    steps: list[tuple[int, str]] = field(default_factory=list)

    def next_rate(self) -> int | None:
        """Next_rate is the next rate to try, or None when the search is over."""
        s = self.settings
        if self.generator_limit or len(self.steps) >= s.max_steps:
            return None
        if self.fixed_ladder:
            rungs = s.ladder()
            done = len(self.steps)
            return None if self.failed or done >= len(rungs) else rungs[done]
        if not self.steps:
            return s.start_rate
        if not self.failed:
            if self.passed >= s.max_rate:
                return None
            return min(s.max_rate, max(self.passed + 1, round(self.passed * s.growth)))
        if not self.passed or self.failed <= self.passed * (1 + s.precision):
            return None
        mid = (self.passed + self.failed) // 2
        return mid if self.passed < mid < self.failed else None

    def record(self, rate: int, verdict: str) -> None:
        """Record adds a step's verdict (PASS, FAIL or GENERATOR_LIMIT) at rate."""
        self.steps.append((rate, verdict))
        if verdict == PASS:
            self.passed = max(self.passed, rate)
        elif verdict == FAIL:
            self.failed = rate if not self.failed else min(self.failed, rate)
        else:
            self.generator_limit = rate

    @property
    def outcome(self) -> str:
        """Outcome is how the search ended: found, at-max-rate, none-passed or generator-limit."""
        if self.generator_limit:
            return "generator-limit"
        if not self.passed:
            return "none-passed"
        return "found" if self.failed else "at-max-rate"
