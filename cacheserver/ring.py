"""Consistent hashing: which member owns a key.

Every member must compute the same owner for every key, so the hash is SHA-256 (never
Python's per-process seeded ``hash()``), the ring is built from the sorted set of
members, and two virtual nodes that land on the same point go to the smaller member
name rather than to whichever was inserted last.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable
from typing import Final

DEFAULT_REPLICAS: Final = 160


def point(text: str) -> int:
    """Point maps text to a position on the ring: the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class Ring:
    """Ring maps keys to members with `replicas` virtual nodes per member."""

    def __init__(
        self,
        members: Iterable[str],
        replicas: int = DEFAULT_REPLICAS,
        hash_fn: Callable[[str], int] = point,
    ) -> None:
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self.replicas = replicas
        self._hash = hash_fn
        owners: dict[int, str] = {}
        for member in self.members:
            for i in range(replicas):
                p = hash_fn(f"{i}-{member}")
                # Collisions: the smaller member name wins, whatever the insertion order.
                if p not in owners or member < owners[p]:
                    owners[p] = member
        self._points = sorted(owners)
        self._owners = [owners[p] for p in self._points]

    def __len__(self) -> int:
        return len(self.members)

    def owner(self, key: str) -> str | None:
        """Owner returns the member that owns key, or None for an empty ring."""
        if not self._points:
            return None
        i = bisect.bisect_left(self._points, self._hash(key))
        return self._owners[i % len(self._owners)]

    def successors(self, key: str) -> list[str]:
        """Successors returns every member in ring order from key's point, its owner first.

        Every member computes the same order, so "the next member" of an unreachable
        owner is one deterministic fallback, and the origin sees one load per key.
        """
        if not self._points:
            return []
        start = bisect.bisect_left(self._points, self._hash(key))
        order: list[str] = []
        n = len(self._owners)
        for j in range(n):
            member = self._owners[(start + j) % n]
            if member not in order:
                order.append(member)
                if len(order) == len(self.members):
                    break
        return order
