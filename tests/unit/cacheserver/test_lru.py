"""ByteLRU: the byte budget, evictions, oversize items; the group's hot/main split."""

from __future__ import annotations

import threading

from cacheserver.lru import TOUCH_BATCH, ByteLRU


def test_budget_is_bytes_not_items() -> None:
    lru = ByteLRU(max_bytes=100)
    for i in range(10):
        assert lru.add(f"k{i}", bytes(30))
    stats = lru.stats()
    assert stats.bytes <= 100
    assert stats.items == 3
    assert stats.evictions == 7
    assert lru.evicted_bytes() == 7 * 30  # the values' bytes, as the trimmer counts them


def test_least_recently_used_goes_first() -> None:
    lru = ByteLRU(max_bytes=30)
    lru.add("a", bytes(10))
    lru.add("b", bytes(10))
    lru.add("c", bytes(10))
    assert lru.get("a") is not None  # a is now the most recent
    lru.add("d", bytes(10))
    assert lru.get("b") is None
    assert lru.get("a") is not None and lru.get("c") is not None


def test_oversize_item_is_refused_and_flushes_nothing() -> None:
    lru = ByteLRU(max_bytes=100, max_item_bytes=40)
    lru.add("a", bytes(40))
    lru.add("b", bytes(40))
    assert not lru.add("big", bytes(41))
    assert lru.get("big") is None
    stats = lru.stats()
    assert (stats.items, stats.bytes, stats.evictions) == (2, 80, 0)


def test_item_limit_never_exceeds_the_budget() -> None:
    lru = ByteLRU(max_bytes=10, max_item_bytes=1000)
    assert not lru.add("x", bytes(11))
    assert lru.stats().items == 0


def test_zero_budget_caches_nothing() -> None:
    lru = ByteLRU(max_bytes=0)
    assert not lru.add("a", b"")
    assert lru.get("a") is None


def test_empty_value_is_a_value() -> None:
    lru = ByteLRU(max_bytes=10)
    assert lru.add("empty", b"")
    assert lru.get("empty") == b""


def test_concurrent_use_keeps_the_budget() -> None:
    lru = ByteLRU(max_bytes=1000)

    def churn(t: int) -> None:
        for i in range(2000):
            lru.add(f"{t}-{i}", bytes(i % 50))
            lru.get(f"{t}-{i // 2}")

    threads = [threading.Thread(target=churn, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = lru.stats()
    assert stats.bytes <= 1000
    assert stats.bytes == sum(len(v) for v in lru._lru.values())
    assert lru._lru.held == dict(lru._lru.items())  # what hits read without the lock


def test_each_value_is_charged_its_overhead() -> None:
    lru = ByteLRU(max_bytes=1000, item_overhead_bytes=100)
    for i in range(50):
        assert lru.add(f"k{i}", bytes(1))
    stats = lru.stats()
    assert (stats.items, stats.bytes, stats.evictions) == (9, 9, 41)  # 9 * (1 + 100) <= 1000
    assert lru.max_item_bytes == 900
    assert not lru.add("big", bytes(901))  # would not fit with its overhead: refused
    assert lru.stats().items == 9


def test_hits_read_without_the_lock_keep_the_exact_lru_order_and_count() -> None:
    lru = ByteLRU(max_bytes=40)
    for key in "abcd":
        lru.add(key, bytes(10))
    # More hits than one replay batch, then a few more still queued at the next add:
    # at each eviction the order is that of the hits, replayed oldest first.
    for _ in range(TOUCH_BATCH):
        lru.get("b")
    for key in "cadac":
        assert lru.get(key) is not None
    lru.add("e", bytes(10))  # evicts the least recent: b
    assert lru.peek("b") is None and lru.peek("d") is not None
    lru.add("f", bytes(10))  # then d
    assert lru.peek("d") is None and all(lru.peek(k) is not None for k in "acef")
    assert lru.stats().hits == TOUCH_BATCH + 5
    assert lru.get("missing") is None and lru.stats().hits == TOUCH_BATCH + 5
