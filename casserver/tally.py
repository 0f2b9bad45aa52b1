"""Tally: the fast path's counts, written to the shared metrics once per event-loop pass.

In multiprocess mode every ``inc`` and ``observe`` is a locked write to a memory-mapped
file (and a getpid), and a blob GET made four of them: half the Python time of a
25 KB answer. The fast path runs on one event loop, so it tallies in plain numbers
and writes them all in a callback that runs as soon as the loop has finished the
requests at hand: a scrape lags by one loop pass, never by an earlier answer.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from typing import Any

log = logging.getLogger(__name__)


class Tally:
    """Tally owns the slots of one event loop and writes them out after each loop pass."""

    def __init__(self) -> None:
        self._counters: list[CounterSlot] = []
        self._histograms: list[HistogramSlot] = []
        self.scheduled = False

    def counter(self, child: Any) -> CounterSlot:
        """Counter returns a slot that adds to a labelled counter child."""
        slot = CounterSlot(self, child)
        self._counters.append(slot)
        return slot

    def histogram(self, child: Any) -> HistogramSlot:
        """Histogram returns a slot that observes into a labelled histogram child."""
        slot = HistogramSlot(self, child)
        self._histograms.append(slot)
        return slot

    def schedule(self) -> None:
        """Schedule flushes after this loop pass, or at once off the loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on a loop (a test, a thread): write at once
            self.flush()
            return
        self.scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Flush writes everything tallied so far to the metrics."""
        self.scheduled = False
        for counter in self._counters:
            counter.write()
        for histogram in self._histograms:
            histogram.write()


class CounterSlot:
    """CounterSlot tallies increments of one counter child."""

    __slots__ = ("_tally", "_child", "_pending")

    def __init__(self, tally: Tally, child: Any) -> None:
        self._tally, self._child, self._pending = tally, child, 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Inc adds amount at the next flush."""
        self._pending += amount
        if not self._tally.scheduled:
            self._tally.schedule()

    def write(self) -> None:
        """Write adds what is pending to the counter."""
        if self._pending:
            amount, self._pending = self._pending, 0.0
            self._child.inc(amount)


HISTOGRAM_INTERNALS = ("_upper_bounds", "_buckets", "_sum")


class HistogramSlot:
    """HistogramSlot tallies observations of one histogram child by bucket."""

    __slots__ = ("_tally", "_child", "_bounds", "_counts", "_sum", "bulk")

    def __init__(self, tally: Tally, child: Any) -> None:
        self._tally, self._child = tally, child
        # Bulk writes use prometheus-client's private _upper_bounds, _buckets and _sum
        # (there is no public bulk observe). If a release renames them, observe one at a
        # time through the public API instead: slower, never wrong.
        self.bulk = all(hasattr(child, name) for name in HISTOGRAM_INTERNALS)
        if not self.bulk:
            log.warning("prometheus-client histogram internals changed: observing one by one")
        self._bounds: list[float] = list(child._upper_bounds) if self.bulk else []
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Record value at the next flush (at once without the internals)."""
        if not self.bulk:
            self._child.observe(value)
            return
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value
        if not self._tally.scheduled:
            self._tally.schedule()

    def write(self) -> None:
        """Write adds the pending observations to the histogram."""
        if not any(self._counts):
            return
        # prometheus_client has no bulk observe: add n observations to a bucket through
        # the same values that observe() increments one at a time.
        for i, n in enumerate(self._counts):
            if n:
                self._child._buckets[i].inc(n)
                self._counts[i] = 0
        total, self._sum = self._sum, 0.0
        self._child._sum.inc(total)
