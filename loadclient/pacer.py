"""The pacer decides when each request is due: a pure function of elapsed time and hits."""

from __future__ import annotations

from dataclasses import dataclass

from loadclient.durations import Rate


@dataclass(frozen=True, slots=True)
class ConstantPacer:
    """ConstantPacer makes hit k due at k*per/freq after the start, whatever the server does.

    Due times are computed from the hit number, never from the previous send, so a late
    send never shifts the schedule (no drift, no coordinated omission).
    """

    rate: Rate
    duration_ns: int

    def due_ns(self, hit: int) -> int:
        """Due_ns is when hit (0-based) is due, in nanoseconds after the start."""
        return hit * self.rate.per_ns // self.rate.freq

    def total_hits(self) -> int:
        """Total_hits is how many hits fall due before the duration ends."""
        if self.rate.freq <= 0 or self.duration_ns <= 0:
            return 0
        return -(-self.duration_ns * self.rate.freq // self.rate.per_ns)

    def hits_by(self, elapsed_ns: int) -> float:
        """Hits_by is the cumulative count the schedule offers by elapsed_ns (fractional)."""
        if elapsed_ns <= 0 or self.rate.per_ns <= 0:
            return 0.0
        return min(elapsed_ns, self.duration_ns) * self.rate.freq / self.rate.per_ns

    def expected_hits(self, elapsed_ns: int) -> int:
        """Expected_hits is how many hits are due by elapsed_ns (capped at total_hits)."""
        if elapsed_ns < 0 or self.rate.freq <= 0:
            return 0
        due = elapsed_ns * self.rate.freq // self.rate.per_ns + 1
        return min(due, self.total_hits())

    def pace(self, elapsed_ns: int, hits: int) -> tuple[int, bool]:
        """Pace returns how long to wait before the next hit and whether the attack is over.

        A wait of 0 means the next hit is already due (or overdue: send it now).
        """
        if self.rate.freq <= 0 or self.rate.per_ns <= 0 or hits >= self.total_hits():
            return 0, True
        return max(0, self.due_ns(hits) - elapsed_ns), False
