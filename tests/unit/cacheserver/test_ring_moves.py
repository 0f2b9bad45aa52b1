"""How many keys change owner when the Kubernetes cache tier restarts or scales.

Members are named as k8s/base/cacheserver.yaml names them: by StatefulSet DNS name,
so a restarted pod comes back under its own name. docs/operations.md quotes these shares.
"""

from __future__ import annotations

import hashlib

from cacheserver.ring import Ring

KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(10_000)]


def member(ordinal: int) -> str:
    return f"http://cacheserver-{ordinal}.cacheserver-peers:18002"


def moved(before: list[str], after: list[str]) -> float:
    """Moved is the share of KEYS whose owner differs between two rings."""
    old, new = Ring(before), Ring(after)
    return sum(old.owner(k) != new.owner(k) for k in KEYS) / len(KEYS)


def test_a_restart_moves_no_key() -> None:
    three = [member(i) for i in range(3)]
    # The pod comes back with a new IP but the same name: the same ring.
    assert moved(three, list(reversed(three))) == 0.0


def test_a_restart_by_ip_would_have_moved_about_half_the_keys() -> None:
    """The old identity (pod IP) for contrast: one member back at a new address."""
    before = ["http://10.244.0.7:18001", "http://10.244.0.8:18001", "http://10.244.0.9:18001"]
    after = [*before[:2], "http://10.244.0.12:18001"]
    assert 0.3 < moved(before, after) < 0.7


def test_scaling_out_moves_only_the_new_members_keys() -> None:
    three, four = [member(i) for i in range(3)], [member(i) for i in range(4)]
    share = moved(three, four)
    ring = Ring(four)
    taken = sum(ring.owner(k) == member(3) for k in KEYS) / len(KEYS)
    assert share == taken  # every moved key went to the new member, no other moved
    assert 0.15 < share < 0.35


def test_scaling_in_moves_only_the_removed_members_keys() -> None:
    three, four = [member(i) for i in range(3)], [member(i) for i in range(4)]
    share = moved(four, three)
    ring = Ring(four)
    lost = sum(ring.owner(k) == member(3) for k in KEYS) / len(KEYS)
    assert share == lost
    assert 0.15 < share < 0.35
