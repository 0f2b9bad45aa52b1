"""Workload pieces: sizes and size ranges, key popularity, the targeter, upload progress."""

from __future__ import annotations

import io
import math
from collections import Counter

import pytest

from loadclient.blobs import Sizes, UploadProgress, key_index, parse_size
from loadclient.durations import NS_PER_S, Rate
from loadclient.plan import Plan
from loadclient.report import parse_rfc3339_ns
from loadclient.targets import Blob
from loadclient.workload import Distribution, Targeter


@pytest.mark.parametrize(
    ("text", "want"),
    [("25000", (25000, 25000)), ("1k", (1024, 1024)), ("4m", (4 << 20, 4 << 20)),
     ("1k..1m", (1024, 1 << 20)), ("1KiB..2MB", (1024, 2 << 20))],
)  # fmt: skip
def test_parse_size(text: str, want: tuple[int, int]) -> None:
    assert parse_size(text) == want


@pytest.mark.parametrize("text", ["", "0", "1x", "2k..1k", "..", "-5"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_sizes_in_a_range_are_log_uniform_and_reproducible() -> None:
    sizes = Sizes(1024, 1 << 20, "seed")
    drawn = [sizes.of(i) for i in range(4000)]
    assert drawn == [Sizes(1024, 1 << 20, "seed").of(i) for i in range(4000)]
    assert min(drawn) >= 1024 and max(drawn) <= 1 << 20
    # Log-uniform: each of the ten factor-2 octaves gets about a tenth.
    octaves = Counter(int(math.log2(s / 1024)) for s in drawn)
    assert all(300 < octaves[o] < 500 for o in range(10)), octaves
    assert Sizes(7, 7, "s").of(3) == 7
    assert len(sizes.blob(key_index(5)).data) == sizes.of(-6)


@pytest.mark.parametrize(
    ("text", "name", "s"),
    [("uniform", "uniform", 1.0), ("zipf", "zipf", 1.0), ("ZIPF:1.5", "zipf", 1.5)],
)
def test_distribution_parse(text: str, name: str, s: float) -> None:
    d = Distribution.parse(text)
    assert (d.name, d.s) == (name, s)
    assert Distribution.parse(str(d)) == d


@pytest.mark.parametrize("text", ["zipf:0", "zipf:-1", "zipf:x", "pareto", "uniform:2"])
def test_bad_distributions(text: str) -> None:
    with pytest.raises(ValueError):
        Distribution.parse(text)


def test_targeter_draws_keys_by_popularity() -> None:
    digests = tuple(f"{i:064x}" for i in range(10))
    plan = Plan(host="h", port=1, hot=b"", hot_digest=digests[0], rate=Rate(10),
                duration_ns=NS_PER_S, key_digests=digests, distribution="zipf:2",
                seed="s")  # fmt: skip
    t = Targeter(plan)
    drawn = Counter(t.exchange(k, 0).key for k in range(20000))
    weights = Distribution.parse("zipf:2").weights(10)
    for key in range(10):
        expected = 20000 * weights[key] / sum(weights)
        assert abs(drawn[key] - expected) < 5 * math.sqrt(expected) + 5, (key, drawn)
    ex = t.exchange(0, 0)
    assert ex.digest == digests[ex.key] and ex.expect is None  # checked by hashing


def test_upload_progress_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    show = UploadProgress(20, out)
    for _ in range(20):
        show(Blob(b"x" * 1000, "d"))
    lines = out.getvalue().splitlines()
    assert lines[-1] == "uploaded 20/20 blobs, 0.0 MB" and 2 <= len(lines) <= 11


def test_rfc3339_start_times() -> None:
    assert parse_rfc3339_ns("2026-12-01T10:00:00Z") == 1_796_119_200 * NS_PER_S
    assert (
        parse_rfc3339_ns("2026-12-01T11:00:00.5+01:00") == 1_796_119_200 * NS_PER_S + NS_PER_S // 2
    )
    for bad in ("2026-12-01T10:00:00", "tomorrow"):
        with pytest.raises(ValueError):
            parse_rfc3339_ns(bad)
