"""The targeter: reproducible blobs and an even, never-repeating spread of fresh-blob misses."""

from __future__ import annotations

import pytest

from cascommon.digest import parse_digest
from loadclient.durations import Rate
from loadclient.plan import Plan, request_bytes
from loadclient.targets import miss_index, misses_in, random_blob


def test_random_blobs_are_reproducible_and_distinct() -> None:
    a, b = random_blob(1000, "seed"), random_blob(1000, "seed")
    assert a == b and len(a.data) == 1000
    assert random_blob(1000, "seed", 1).digest != a.digest
    assert parse_digest(a.digest).matches(a.data)
    assert a.path == f"/cas/{a.digest}"


@pytest.mark.parametrize(
    ("ratio", "n", "misses"),
    [(0.0, 100, 0), (1.0, 100, 100), (0.1, 100, 10), (0.25, 7, 1), (0.5, 3, 1), (0.3, 1000, 300)],
)
def test_misses_are_spread_evenly_and_never_reused(ratio: float, n: int, misses: int) -> None:
    got = [miss_index(k, ratio) for k in range(n)]
    indices = [i for i in got if i is not None]
    assert len(indices) == misses == misses_in(n, ratio)
    assert indices == list(range(misses))  # each fresh blob exactly once, in order
    for k in range(1, n + 1):  # every prefix has floor(k * ratio) misses
        assert sum(1 for i in got[:k] if i is not None) == int(round(k * ratio, 9))


def test_requests_name_an_ipv6_host_in_brackets() -> None:
    # RFC 9110 7.2 / RFC 3986 3.2.2: an IPv6 literal in Host (and in a URL) is bracketed.
    v6 = Plan(host="::1", port=18001, hot=b"", hot_digest="d", rate=Rate(1), duration_ns=1)
    assert b"\r\nHost: [::1]:18001\r\n" in request_bytes(v6, "d")
    assert v6.base_url == "http://[::1]:18001"
    v4 = Plan(host="127.0.0.1", port=80, hot=b"", hot_digest="d", rate=Rate(1), duration_ns=1)
    assert b"\r\nHost: 127.0.0.1:80\r\n" in request_bytes(v4, "d")
