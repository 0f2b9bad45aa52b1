"""Hedged requests: ask a key's owner, and the origin too if the owner is slow to answer.

The owner is asked first; when it has not answered within its adaptive delay (see
Health.hedge_delay_s), the origin is asked as well and the first good answer wins. A
token budget bounds the hedges: each owner request earns `ratio` of a token, and a few
per second come in any case, so hedges add at most that fraction of the peer traffic to
the origin's load (plus min_per_s), never a multiple of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Final, Generic, TypeVar

from cacheserver.stats import Stats

T = TypeVar("T")
PRIMARY: Final = "primary"
BACKUP: Final = "backup"
# Threads that run hedged calls: each peer's and the origin's bulkhead bound them first.
MAX_CALLS: Final = 64


class HedgeBudget:
    """HedgeBudget is a token bucket: ratio per request, min_per_s per second, up to burst."""

    def __init__(
        self,
        ratio: float,
        min_per_s: float,
        burst: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.min_per_s = min_per_s
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = burst
        self._at = clock()

    def deposit(self) -> None:
        """Deposit earns one request's share of a hedge."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + self.ratio)

    def take(self) -> bool:
        """Take spends a hedge when one is left."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.min_per_s)
            self._at = now
            if self._tokens < 1.0 - 1e-9:  # ten tenths make one
                return False
            self._tokens -= 1.0
            return True


class Hedger(Generic[T]):
    """Hedger runs a primary call and, past a delay and within the budget, a backup one."""

    def __init__(self, budget: HedgeBudget, max_delay_s: float, stats: Stats) -> None:
        self.budget = budget
        self.max_delay_s = max_delay_s
        self.stats = stats
        self._pool = ThreadPoolExecutor(MAX_CALLS, thread_name_prefix="hedge")

    def run(
        self, primary: Callable[[], T], backup: Callable[[], T], delay_s: float
    ) -> tuple[T, str]:
        """Run returns the first good result and which call gave it (PRIMARY or BACKUP).

        When both fail, the backup's error is raised (it was the fallback's answer);
        without a backup, the primary's. The loser carries on to its own deadline.
        """
        self.budget.deposit()
        first = self._pool.submit(primary)
        try:
            return first.result(delay_s), PRIMARY
        except FutureTimeout:
            pass
        if not self.budget.take():
            self.stats.add("HedgesDenied")
            return first.result(), PRIMARY  # bounded by the primary's own deadlines
        self.stats.add("HedgesFired")
        second = self._pool.submit(backup)
        pending: set[Future[T]] = {first, second}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is None:
                    if future is second:
                        self.stats.add("HedgesWon")
                        return future.result(), BACKUP
                    return future.result(), PRIMARY
        return second.result(), BACKUP  # both failed: raises the backup's error

    def close(self) -> None:
        """Close stops new calls; running ones finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)
