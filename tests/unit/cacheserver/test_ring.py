"""Ring: ported from groupcache's consistenthash tests, plus spread and movement bounds."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from cacheserver.ring import Ring

MEMBERS = ["http://10.0.0.1:18001", "http://10.0.0.2:18001", "http://10.0.0.3:18001"]
KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(30_000)]


def _numeric(text: str) -> int:
    # groupcache's test hash: the virtual node label read as a number.
    return int(text.replace("-", ""))


@pytest.mark.parametrize(("key", "owner"), [("2", "2"), ("11", "2"), ("23", "4"), ("27", "2")])
def test_groupcache_table(key: str, owner: str) -> None:
    # Points 2, 4, 6, 12, 14, 16, 22, 24, 26: 27 wraps around to 2.
    ring = Ring(["6", "4", "2"], replicas=3, hash_fn=_numeric)
    assert ring.owner(key) == owner


def test_groupcache_table_after_adding_8() -> None:
    ring = Ring(["6", "4", "2", "8"], replicas=3, hash_fn=_numeric)
    assert ring.owner("27") == "8"


def test_empty_ring_owns_nothing() -> None:
    assert Ring([]).owner("abc") is None


def test_owner_independent_of_member_order() -> None:
    reference = Ring(MEMBERS)
    expected = [reference.owner(k) for k in KEYS[:2000]]
    for order in itertools.permutations(MEMBERS):
        ring = Ring(list(order) + [order[0]])  # a duplicate changes nothing either
        assert [ring.owner(k) for k in KEYS[:2000]] == expected


def test_keys_spread_within_tolerance() -> None:
    # Stated tolerance: with 160 virtual nodes each of 3 members owns 1/3 of keys ± 20%.
    ring = Ring(MEMBERS)
    counts = {m: 0 for m in MEMBERS}
    for k in KEYS:
        counts[ring.owner(k) or ""] += 1
    fair = len(KEYS) / len(MEMBERS)
    for member, n in counts.items():
        assert 0.8 * fair <= n <= 1.2 * fair, (member, n, fair)


def test_adding_a_member_moves_about_one_nth_to_it() -> None:
    before = Ring(MEMBERS)
    after = Ring([*MEMBERS, "http://10.0.0.4:18001"])
    moved = [k for k in KEYS if before.owner(k) != after.owner(k)]
    assert all(after.owner(k) == "http://10.0.0.4:18001" for k in moved)
    assert 0.15 <= len(moved) / len(KEYS) <= 0.35  # ideal 1/4


def test_removing_a_member_moves_only_its_keys() -> None:
    before = Ring(MEMBERS)
    after = Ring(MEMBERS[:2])
    for k in KEYS[:5000]:
        if before.owner(k) != MEMBERS[2]:
            assert after.owner(k) == before.owner(k)


def test_collisions_go_to_the_smaller_member_whatever_the_order() -> None:
    def constant(text: str) -> int:
        return 7  # every virtual node collides

    for order in itertools.permutations(["b", "c", "a"]):
        assert Ring(order, replicas=4, hash_fn=constant).owner("anything") == "a"


def test_partial_collision_is_deterministic() -> None:
    def coarse(text: str) -> int:
        return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 64  # many collisions

    owners = {
        tuple(Ring(order, replicas=50, hash_fn=coarse).owner(k) for k in KEYS[:500])
        for order in itertools.permutations(MEMBERS)
    }
    assert len(owners) == 1
