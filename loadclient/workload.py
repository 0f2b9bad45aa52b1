"""The targeter: which blob each request asks for (hot blob, fresh misses, or one of --keys)."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from loadclient.exchange import Exchange
from loadclient.plan import Plan, request_bytes
from loadclient.targets import miss_index

UNIFORM = "uniform"
ZIPF = "zipf"


@dataclass(frozen=True, slots=True)
class Distribution:
    """Distribution is how popular each of --keys is: uniform, or Zipf with exponent s."""

    name: str = UNIFORM
    s: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Distribution:
        """Parse reads `uniform`, `zipf` or `zipf:S` (S > 0; default 1.0)."""
        name, _, arg = text.strip().lower().partition(":")
        if name == UNIFORM and not arg:
            return cls(UNIFORM)
        if name == ZIPF:
            s = float(arg) if arg else 1.0
            if not 0.0 < s < float("inf"):
                raise ValueError(f"zipf exponent must be a positive number, got {arg!r}")
            return cls(ZIPF, s)
        raise ValueError(f"distribution must be uniform, zipf or zipf:S, got {text!r}")

    def weights(self, n: int) -> list[float]:
        """Weights are key i's relative popularity, for i in 0..n-1 (key 0 the most popular)."""
        if self.name == UNIFORM:
            return [1.0] * n
        return [1.0 / (i + 1) ** self.s for i in range(n)]

    def __str__(self) -> str:
        return UNIFORM if self.name == UNIFORM else f"{ZIPF}:{self.s:g}"


class Targeter:
    """Targeter makes the Exchange for each hit of the schedule."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.hot_request = request_bytes(plan, plan.hot_digest)
        self.keys = plan.key_digests
        self.key_requests = [request_bytes(plan, d) for d in self.keys]
        dist = Distribution.parse(plan.distribution)
        self.cum = list(itertools.accumulate(dist.weights(len(self.keys))))
        # Each process and shard draws its own stream; together they follow the distribution.
        self.rng = random.Random(f"{plan.seed}:{plan.shard}:{plan.worker}")

    def exchange(self, hit: int, due_ns: int) -> Exchange:
        """Exchange is request `hit` (its global number), due at due_ns."""
        plan = self.plan
        if self.keys:
            key = bisect.bisect_right(self.cum, self.rng.random() * self.cum[-1])
            key = min(key, len(self.keys) - 1)  # rounding at the very top
            return Exchange(hit, due_ns, self.key_requests[key], self.keys[key], None, key)
        index = miss_index(hit, plan.miss_ratio) if plan.miss_ratio else None
        if index is None or index >= len(plan.miss_digests):
            return Exchange(hit, due_ns, self.hot_request, plan.hot_digest, plan.hot)
        digest = plan.miss_digests[index]
        return Exchange(hit, due_ns, request_bytes(plan, digest), digest, None)
