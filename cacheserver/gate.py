"""Bulkheads: non-blocking bounds on how many requests may wait on one thing at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cacheserver.errors import LoadError, Overloaded


@dataclass(frozen=True, slots=True)
class GateStats:
    """GateStats is one bulkhead's size, places taken now and refusals so far."""

    name: str
    limit: int
    in_use: int
    rejected: int


class Gate:
    """Gate admits at most limit holders; one more is refused at once, never queued.

    A refused request answers 503 + Retry-After (or is rerouted) in microseconds, so
    the threads that serve hits are never all waiting on fills, peers or streams.
    """

    def __init__(
        self, limit: int, name: str, full: Callable[[str], LoadError] = Overloaded
    ) -> None:
        self.limit = limit
        self.name = name
        self._full = full
        self._lock = threading.Lock()
        self._in_use = 0
        self._rejected = 0

    def enter(self) -> None:
        """Enter takes a place or raises the gate's error (Overloaded by default)."""
        with self._lock:
            if self._in_use >= self.limit:
                self._rejected += 1
                raise self._full(f"{self.limit} {self.name} already waiting")
            self._in_use += 1

    def leave(self) -> None:
        """Leave gives a place back."""
        with self._lock:
            self._in_use = max(0, self._in_use - 1)

    def stats(self) -> GateStats:
        """Stats returns the gate's size, occupancy and refusals."""
        with self._lock:
            return GateStats(self.name, self.limit, self._in_use, self._rejected)


class KeyedGate:
    """KeyedGate is a Gate whose places are keys: every waiter for one key shares one place.

    Sixteen requests for one cold key wait for one fill, so they take one place, not
    sixteen. A new key takes a place of this gate and of every shared one (all or none).
    """

    def __init__(self, limit: int, name: str, shared: tuple[Gate, ...] = ()) -> None:
        self.gate = Gate(limit, name)
        self._gates = (self.gate, *shared)
        self._lock = threading.Lock()
        self._waiters: dict[str, int] = {}

    def enter(self, key: str) -> None:
        """Enter joins the key's place, or takes a new one, or raises Overloaded."""
        with self._lock:
            count = self._waiters.get(key, 0)
            if count == 0:
                taken: list[Gate] = []
                try:
                    for gate in self._gates:
                        gate.enter()
                        taken.append(gate)
                except LoadError:
                    for gate in taken:
                        gate.leave()
                    raise
            self._waiters[key] = count + 1

    def leave(self, key: str) -> None:
        """Leave gives the key's place back when its last waiter leaves."""
        with self._lock:
            count = self._waiters.get(key, 0) - 1
            if count > 0:
                self._waiters[key] = count
                return
            self._waiters.pop(key, None)
            for gate in self._gates:
                gate.leave()

    def stats(self) -> GateStats:
        """Stats returns the places (keys) taken and the refusals."""
        return self.gate.stats()


class RouteGates:
    """RouteGates is one KeyedGate per upstream a miss waits on (a peer, or the origin).

    All of them together hold at most `limit` keys (so request threads stay free for
    hits), and one peer at most `per_upstream` of them (the origin, `unbounded`, all):
    a silent or slow peer fills only its own share, and misses routed elsewhere still
    find places.
    Upstreams are few (configured members).
    """

    def __init__(
        self, limit: int, name: str, per_upstream: int | None = None, unbounded: str = "origin"
    ) -> None:
        self.limit = limit
        self.name = name
        self.unbounded = unbounded
        self.per_upstream = per_upstream or max(1, (2 * limit + 2) // 3)
        self.total = Gate(limit, name)
        self._lock = threading.Lock()
        self._gates: dict[str, KeyedGate] = {}

    def gate(self, upstream: str) -> KeyedGate:
        """Gate returns the upstream's gate, made on first use."""
        with self._lock:
            found = self._gates.get(upstream)
            if found is None:
                # The origin may take every place: it is every key's last resort, and a
                # dead one is backed off and refuses at once instead of holding them.
                limit = self.limit if upstream == self.unbounded else self.per_upstream
                found = self._gates[upstream] = KeyedGate(
                    limit, f"{self.name}:{upstream}", (self.total,)
                )
            return found

    def stats(self) -> list[GateStats]:
        """Stats returns every upstream gate's stats."""
        with self._lock:
            gates = list(self._gates.values())
        return [self.total.stats(), *(g.stats() for g in gates)]
