"""The health of one upstream (a peer or the origin), fed by requests and background probes.

An upstream that fails (no connection, or its own error) is backed off for a period that
doubles with each failure in a row. A timeout backs it off only when nothing at all was
heard from it during the wait: a peer that answered anything lately is alive and busy,
likely loading the key for us. Slowness counts too: when the recent answers' typical
latency is over slow_s, it is backed off like a failure.

While a prober watches it, a backed-off upstream comes back only when a probe answers
(never by a client's request finding out); unwatched, it comes back when its period ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final, TypeVar

from cacheserver.errors import (
    Busy,
    ConnectFailed,
    FirstByteTimeout,
    Full,
    NotFound,
    OriginFailed,
    Unavailable,
    UpstreamTimeout,
)

T = TypeVar("T")

MIN_BACKOFF_S: Final = 0.25
# Recent answer latencies kept for the hedge delay and the slowness decision.
LATENCY_SAMPLES: Final = 64
# Fewer samples than this say nothing about slowness.
MIN_SLOW_SAMPLES: Final = 8
HEDGE_FLOOR_S: Final = 0.02


class State(Enum):
    """State is what the member makes of an upstream now (a metric label's value)."""

    UP = "up"
    DOWN = "down"


class Health:
    """Health tracks one upstream's backoff, its recent latency and what last failed."""

    def __init__(
        self,
        name: str,
        max_backoff_s: float,
        *,
        heard_window_s: float,
        slow_s: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_backoff_s = max_backoff_s
        self.heard_window_s = heard_window_s
        self.slow_s = slow_s
        self.watched = False  # set by the prober that brings it back
        self.last_cause = ""
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._down = False
        self._retry_at = 0.0
        self._answered_at = -math.inf
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    def track(self, call: Callable[[], T], *, own_errors: bool = True) -> T:
        """Track runs one request to the upstream and learns from how it ends.

        own_errors: whether an error answer (a 500) is the upstream's failure (a peer's)
        or only that request's (the origin's: one bad blob is no dead origin).
        """
        started = self._clock()
        try:
            result = call()
        except Full:
            raise  # this member's own bulkhead: nothing learnt about the upstream
        except (NotFound, OriginFailed, Busy):
            self.answered()  # it answered; a busy upstream is not a failing one
            raise
        except ConnectFailed as ex:
            self.failed(str(ex))
            raise
        except FirstByteTimeout as ex:
            self.timed_out(str(ex))
            raise
        except UpstreamTimeout as ex:
            if own_errors:
                self.timed_out(str(ex))
            raise
        except Unavailable as ex:
            if own_errors:
                self.failed(str(ex))
            raise
        self.answered(self._clock() - started)
        return result

    def available(self) -> bool:
        """Available reports whether requests may go to the upstream now."""
        with self._lock:
            if not self._down:
                return True
            if self.watched:
                return False
            return self._clock() >= self._retry_at

    def state(self) -> State:
        """State is UP unless the upstream is backed off."""
        return State.UP if self.available() else State.DOWN

    def failed(self, cause: str = "error") -> float:
        """Failed starts or doubles the backoff period and returns its length."""
        with self._lock:
            backoff_s = min(self.max_backoff_s, MIN_BACKOFF_S * float(2**self._failures))
            self._failures = min(self._failures + 1, 30)
            self._retry_at = self._clock() + backoff_s
            self._down = True
            self.last_cause = cause
            return backoff_s

    def timed_out(self, cause: str = "timeout") -> float:
        """Timed_out backs off (see failed) only an upstream not heard from within the window.

        Heard from: an answer to a request (a probe's proves it alive, not serving). One
        heard from lately is alive and busy: backing off would send every key it
        owns elsewhere. Returns the backoff period (0: not backed off).
        """
        with self._lock:
            busy = self._clock() - self._answered_at < self.heard_window_s
        return 0.0 if busy else self.failed(cause)

    def answered(self, latency_s: float | None = None) -> None:
        """Answered records an answer (and its latency); a slow recent history backs off."""
        with self._lock:
            self._answered_at = self._clock()
            if not self._down:
                self._failures = 0
            if latency_s is None:
                return
            self._latencies.append(latency_s)
            slow = (
                len(self._latencies) >= MIN_SLOW_SAMPLES and _median(self._latencies) > self.slow_s
            )
        if slow:
            self.failed(f"slow (median answer over {self.slow_s:g}s)")

    def succeeded(self) -> None:
        """Succeeded ends the backoff at once."""
        with self._lock:
            self._failures = 0
            self._retry_at = 0.0
            self._down = False
            self._answered_at = self._clock()

    def probed(self, ok: bool, cause: str = "") -> None:
        """Probed records a background probe: an answer after the backoff brings it back."""
        if not ok:
            with self._lock:
                down = self._down
            if not down:
                self.timed_out(cause or "probe failed")
            return
        with self._lock:
            # Not "heard from" for timed_out: a /healthz answer every probe interval (0.5 s,
            # within the 1 s window) once excused every timeout of a peer that stalls blobs.
            if self._down and self._clock() >= self._retry_at:
                self._down = False
                self._latencies.clear()

    def hedge_delay_s(self, ceiling_s: float) -> float:
        """Hedge_delay_s is how long to wait for this upstream before asking the fallback.

        Twice the 90th percentile of its recent answers, within [HEDGE_FLOOR_S, ceiling_s]:
        a healthy owner is almost never hedged, a silent one costs a client at most ceiling_s.
        """
        with self._lock:
            samples = sorted(self._latencies)
        if len(samples) < MIN_SLOW_SAMPLES:
            return ceiling_s
        p90 = samples[min(len(samples) - 1, int(len(samples) * 0.9))]
        return max(HEDGE_FLOOR_S, min(ceiling_s, 2 * p90))


def _median(values: deque[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
