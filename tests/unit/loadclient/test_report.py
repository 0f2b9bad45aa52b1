"""The JSON report has Vegeta's exact field set, names, types and units, plus extras."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from loadclient.histogram import bucket_index
from loadclient.mergeable import from_state
from loadclient.metrics import INTEGRITY, STATUS, Metrics, Success
from loadclient.report import (
    VEGETA_FIELDS,
    VEGETA_LATENCY_FIELDS,
    Report,
    dumps,
    go_number,
    rfc3339,
)
from loadclient.result import Result
from loadclient.series import Series

MS = 1_000_000
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


def record(m: Metrics, start_ns: int, *fields: Any) -> None:
    """Record adds one Result to m, whose schedule started at start_ns."""
    m.start_ns = start_ns
    m.add(Result(*fields))


def build_json(m: Metrics, *, wall_offset_ns: int, target_rate: float) -> dict[str, Any]:
    """Build_json is the JSON report of m."""
    return Report(m, wall_offset_ns, target_rate).to_json()


# Types as Go's encoding/json writes vegeta.Metrics, read back by Python's json.
VEGETA_TYPES: dict[str, type | tuple[type, ...]] = {
    "latencies": dict, "bytes_in": dict, "bytes_out": dict, "earliest": str, "latest": str,
    "end": str, "duration": int, "wait": int, "requests": int, "rate": float,
    "throughput": float, "success": float, "status_codes": dict, "errors": list,
}  # fmt: skip


def sample_metrics() -> Metrics:
    m = Metrics(1_000_000_000)
    start = 10_000 * MS
    for k in range(100):
        due = start + k * 10 * MS
        sent, done = due + 100_000, due + 2 * MS + k * 1000
        if k == 13:
            record(m, start, due, sent, done, 404, 50, 0, STATUS, "GET x: 404 Not Found", None)
        elif k == 14:
            record(m, start, due, sent, done, 200, 25, 0, INTEGRITY, "GET x: wrong body", b"hit")
        else:
            record(m, start, due, sent, done, 200, 25, 0, None, "", b"hit" if k % 2 else b"miss")
    return m


def roundtrip(report: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(report))  # type: ignore[no-any-return]


def test_vegeta_fields_names_and_types() -> None:
    r = roundtrip(
        build_json(sample_metrics(), wall_offset_ns=1_700_000_000 * 10**9, target_rate=100)
    )
    for name in VEGETA_FIELDS:
        assert isinstance(r[name], VEGETA_TYPES[name]), name
    assert set(r["latencies"]) >= set(VEGETA_LATENCY_FIELDS)
    assert all(type(r["latencies"][k]) is int for k in VEGETA_LATENCY_FIELDS)
    for block in ("bytes_in", "bytes_out"):
        assert set(r[block]) == {"total", "mean"}
        mean = r[block]["mean"]
        assert type(r[block]["total"]) is int and type(mean) is (int if mean % 1 == 0 else float)
    for stamp in ("earliest", "latest", "end"):
        assert RFC3339.fullmatch(r[stamp]), r[stamp]
    assert all(type(k) is str and type(v) is int for k, v in r["status_codes"].items())
    assert all(type(e) is str for e in r["errors"])


def test_vegeta_values_and_units() -> None:
    r = build_json(sample_metrics(), wall_offset_ns=0, target_rate=100)
    assert r["requests"] == 100
    assert r["status_codes"] == {"200": 99, "404": 1}
    assert r["success"] == 0.98
    assert r["errors"] == ["GET x: 404 Not Found", "GET x: wrong body"]
    assert r["duration"] == 990 * MS  # first to last send, nanoseconds
    assert r["wait"] == 2 * MS + 99_000 - 100_000  # last send to last answer
    assert r["rate"] == 100 / 0.99
    assert r["throughput"] == 98 / ((r["duration"] + r["wait"]) / 1e9)
    assert r["latencies"]["min"] == 2 * MS
    assert r["latencies"]["max"] == 2 * MS + 99_000
    assert r["latencies"]["total"] == sum(2 * MS + k * 1000 for k in range(100))
    assert r["bytes_in"] == {"total": 99 * 25 + 50, "mean": (99 * 25 + 50) / 100}
    assert r["bytes_out"] == {"total": 0, "mean": 0.0}


def test_extras_sit_beside_vegeta_fields() -> None:
    r = build_json(sample_metrics(), wall_offset_ns=0, target_rate=100)
    assert {"99.9th", "99.99th"} <= set(r["latencies"])
    assert r["service_time"]["min"] == 2 * MS - 100_000
    assert r["send_lag"]["max"] == 100_000
    assert r["target_rate"] == 100.0
    assert r["achieved_rate"] == 99 / 0.99
    assert r["integrity"] == {"checked": 99, "ok": 98, "mismatched": 1}
    assert r["cache"]["hit"] == 50 and r["cache"]["miss"] == 49
    assert r["error_counts"]["status"] == 1 and r["error_counts"]["integrity"] == 1


def test_empty_run_is_still_a_full_report() -> None:
    r = roundtrip(build_json(Metrics(1_000_000_000), wall_offset_ns=0, target_rate=10))
    assert set(VEGETA_FIELDS) <= set(r)
    assert r["requests"] == 0 and r["success"] == 0.0 and r["earliest"] == "0001-01-01T00:00:00Z"


def test_rfc3339_matches_go() -> None:
    assert rfc3339(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_merged_workers_report_like_one() -> None:
    one = sample_metrics()
    a, b = sample_metrics(), sample_metrics()
    a.merge(b)
    ra, r1 = (
        build_json(a, wall_offset_ns=0, target_rate=1),
        build_json(one, wall_offset_ns=0, target_rate=1),
    )
    assert ra["requests"] == 2 * r1["requests"]
    assert ra["latencies"]["99th"] == r1["latencies"]["99th"]
    assert ra["status_codes"] == {"200": 198, "404": 2}
    assert ra["errors"] == r1["errors"]


def test_successes_in_bulk_make_the_series_that_series_add_makes() -> None:
    # Metrics.add_successes counts the series in bulk: it must never disagree with Series.add.
    m, s = Metrics(1_000_000_000), Series(1_000_000_000)
    batch: list[Success] = []
    for k in range(50):
        due = k * 70 * MS
        done = due + 900_000 + k * 10_000
        batch.append((due, due + 20_000, done, 25, b"hit" if k % 3 else None, -1))
        s.add(due, done - due, bucket_index(done - due), 200, False)
    m.add_successes(batch[:20])
    m.add_successes(batch[20:])
    assert m.series.rows() == s.rows()


@pytest.mark.parametrize("size", [1, 7, 50])
def test_successes_in_bulk_record_what_add_records(size: int) -> None:
    # Batches of any size, spanning intervals, with keys, X-Cache values, a send before its
    # due time (lag clamped to 0) and a latency beyond the histogram's range.
    bulk, one_by_one = Metrics(1_000_000_000), Metrics(1_000_000_000)
    successes: list[Success] = []
    for k in range(50):
        due = k * 97 * MS
        sent = due - 5 if k == 7 else due + 20_000 + k
        done = due + (2**45 if k == 9 else 900_000 + k * 3_000)
        cache = (b"hit", None, b"MISS", b"odd")[k % 4]
        successes.append((due, sent, done, 25 + k % 3, cache, k % 5 - 2))
    for i in range(0, len(successes), size):
        bulk.add_successes(successes[i : i + size])
    for due, sent, done, size_in, cache, key in successes:
        one_by_one.add(Result(due, sent, done, 200, size_in, 0, None, "", cache, key))
    report = build_json(bulk, wall_offset_ns=0, target_rate=1)
    assert report == build_json(one_by_one, wall_offset_ns=0, target_rate=1)
    assert bulk.series.rows() == one_by_one.series.rows()
    assert bulk.key_counts == one_by_one.key_counts == {0: 10, 1: 10, 2: 10}
    for name in ("latency", "service", "send_lag"):
        a, b = getattr(bulk, name), getattr(one_by_one, name)
        assert (a.counts, a.total, a.sum, a.min, a.max) == (b.counts, b.total, b.sum, b.min, b.max)
    by_cache = {"hit": 0, "peer": 0, "miss": 0, "none": 0, "other": 0}
    for k, (_, _, _, size_in, _, _) in enumerate(successes):
        by_cache[("hit", "none", "miss", "other")[k % 4]] += size_in
    assert report["bytes_by_cache"] == by_cache


def test_whole_floats_are_written_as_go_writes_them() -> None:
    # Go's encoding/json writes float64 1.0 as 1: tools comparing the outputs byte for byte.
    m = Metrics(1_000_000_000)
    for k in range(5):
        due = k * 250 * MS
        record(m, 0, due, due + 1, due + 2, 200, 25_000, 0, None, "", b"hit")
    text = json.dumps(build_json(m, wall_offset_ns=0, target_rate=5))
    assert '"success": 1,' in text and '"mean": 25000}' in text and '"rate": 5,' in text
    assert '"bytes_out": {"total": 0, "mean": 0}' in text


def test_the_mergeable_state_rebuilds_the_same_report() -> None:
    m = sample_metrics()
    m.dropped = 3
    r = build_json(m, wall_offset_ns=1_700_000_000 * 10**9, target_rate=100)
    back, rate = from_state(json.loads(json.dumps(r["mergeable"])))
    again = Report(back, 0, rate).to_json()
    for key in (*VEGETA_FIELDS, "dropped", "cache", "error_counts", "integrity", "send_lag"):
        assert again[key] == r[key], key


def test_requests_that_never_connected_still_bound_the_attack() -> None:
    # Every connect refused: nothing was sent, yet the attack ran from the first due
    # time to the last, as vegeta stamps each result when its hit began.
    m = Metrics(1_000_000_000)
    start = 10_000 * MS
    for k in range(50):
        due = start + k * 20 * MS
        record(m, start, due, 0, due + MS, 0, 0, 0, "connect", "connect: refused", None)
    r = build_json(m, wall_offset_ns=1_700_000_000 * 10**9, target_rate=50)
    assert r["duration"] == 49 * 20 * MS
    assert r["wait"] == MS
    assert r["earliest"] != r["latest"]
    assert not r["earliest"].startswith("0001")
    assert r["rate"] == 50 / 0.98  # vegeta: requests / duration
    assert r["success"] == 0.0
    assert r["status_codes"] == {"0": 50}
    assert r["send_lag"]["max"] == 0 and r["service_time"]["max"] == 0


def test_bodies_cut_short_are_not_counted_as_checked() -> None:
    # A 200 whose body never arrived whole (closed mid-body, or timed out) was never checked:
    # it must not show up as a body that matched its digest.
    m = Metrics(1_000_000_000)
    record(m, 0, 0, 1, 5 * MS, 200, 25, 0, None, "", None)
    record(m, 0, MS, MS + 1, 6 * MS, 200, 10, 0, "protocol", "GET x: closed mid-body", None)
    record(m, 0, 2 * MS, 2 * MS + 1, 7 * MS, 200, 10, 0, "timeout", "GET x: no response", None)
    record(m, 0, 3 * MS, 3 * MS + 1, 8 * MS, 200, 25, 0, INTEGRITY, "GET x: wrong body", None)
    r = build_json(m, wall_offset_ns=0, target_rate=1)
    assert r["integrity"] == {"checked": 2, "ok": 1, "mismatched": 1}


@pytest.mark.parametrize(
    ("python", "go"),
    [("1e-05", "0.00001"), ("1.234e-05", "0.00001234"), ("-1e-05", "-0.00001"),
     ("1e-06", "0.000001"), ("5e-07", "5e-7"), ("1e-10", "1e-10"), ("1e+16", "10000000000000000"),
     ("1e+21", "1e+21"), ("2.5e+22", "2.5e+22")],
)  # fmt: skip
def test_numbers_with_exponents_as_go_writes_them(python: str, go: str) -> None:
    # strconv.AppendFloat(f, 'f' or 'e' below 1e-6 and from 1e21, -1, 64), e-07 cut to e-7.
    assert go_number(python) == go


def test_dumps_rewrites_numbers_only() -> None:
    text = dumps({"success": 1e-05, "list": [5e-07, 0.5], "error": "GET x: 1e-05,\n"})
    assert json.loads(text) == {"success": 1e-05, "list": [5e-07, 0.5], "error": "GET x: 1e-05,\n"}
    assert '"success": 0.00001,' in text and "    5e-7,\n" in text and text.endswith("}\n")
