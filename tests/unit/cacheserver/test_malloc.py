"""The malloc settings: glibc takes them, and trims come once per every_bytes freed."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from cacheserver.malloc import Trimmer, tune


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or "libc.so.6" not in str(ctypes.util.find_library("c")),
    reason="glibc only",
)
def test_glibc_takes_the_arena_cap() -> None:
    assert tune()


def test_trims_once_per_every_bytes_freed() -> None:
    trimmer = Trimmer(every_bytes=100)
    assert not trimmer.freed(99)
    assert trimmer.freed(100)
    assert not trimmer.freed(150)  # counted from the last trim, not from zero
    assert trimmer.freed(260)
    assert trimmer.trims == 2


def test_a_zero_budget_still_counts_in_whole_bytes() -> None:
    trimmer = Trimmer(every_bytes=0)
    assert not trimmer.freed(0)
    assert trimmer.freed(1)
