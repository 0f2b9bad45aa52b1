"""Live metrics: snapshots add up across workers and runs; the exposition is true to them."""

from __future__ import annotations

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loadclient.cli import main
from loadclient.durations import NS_PER_S, Rate
from loadclient.live import Board, Snapshot, registry_for
from loadclient.metrics import Metrics
from loadclient.plan import Plan
from loadclient.result import TIMEOUT, Result
from loadclient.stages import parse_stages

MS = 1_000_000


def _metrics(latencies_ms: list[float], timeouts: int = 0) -> Metrics:
    m = Metrics(100 * MS)
    for ms in latencies_ms:
        m.add(Result(0, 10_000, int(ms * MS), 200, 25, 0, None, "", b"hit"))
    for _ in range(timeouts):
        m.add(Result(0, 10_000, 2 * NS_PER_S, 0, 0, 0, TIMEOUT, "timed out", None))
    return m


def _samples(board: Board) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_for(board)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_finished_runs_and_live_workers_add_up() -> None:
    board = Board()
    board.finish(_metrics([0.9, 3.0, 30.0], timeouts=1))  # a finished capacity step
    board.set_live(1, Snapshot.of(_metrics([0.2, 0.7]), in_flight=3))  # a worker's snapshot
    live = _metrics([600.0])
    board.set_live(2, lambda: Snapshot.of(live, in_flight=1))  # the lone process, scraped
    s = _samples(board)
    assert s["loadclient_requests_total", ()] == 7
    assert s["loadclient_successes_total", ()] == 6
    assert s["loadclient_in_flight", ()] == 4
    assert s["loadclient_responses_total", (("code", "200"),)] == 6
    assert s["loadclient_responses_total", (("code", "0"),)] == 1
    assert s["loadclient_errors_total", (("kind", "timeout"),)] == 1
    assert s["loadclient_cache_results_total", (("result", "hit"),)] == 6
    bucket = "loadclient_request_duration_seconds_bucket"
    assert s[bucket, (("le", "0.0005"),)] == 1  # 0.2 ms
    assert s[bucket, (("le", "0.001"),)] == 3  # + 0.7 ms, 0.9 ms (a bound is exact to 1/2048)
    assert s[bucket, (("le", "0.005"),)] == 4
    assert s[bucket, (("le", "0.05"),)] == 5
    assert s[bucket, (("le", "1.0"),)] == 6
    assert s[bucket, (("le", "2.5"),)] == 7
    assert s[bucket, (("le", "+Inf"),)] == 7
    assert abs(s["loadclient_request_duration_seconds_sum", ()] - 2.6348) < 1e-3
    live.add(Result(0, 1, 2 * MS, 200, 25, 0, None, "", b"miss"))
    assert _samples(board)["loadclient_requests_total", ()] == 8  # read at each scrape
    board.finish(_metrics([]))
    assert _samples(board)["loadclient_requests_total", ()] == 4  # only what finished counts


def test_schedule_gauges_follow_the_stages() -> None:
    board = Board()
    plan = Plan("127.0.0.1", 1, b"x", "ab" * 32, Rate(1), 0, stages=parse_stages("1s:100,2s:100"),
                shards=2)  # fmt: skip
    board.begin(plan, start_ns=0)  # started long ago (monotonic 0): the schedule is over
    offered, rate, stage = board.schedule_now()
    assert (offered, rate, stage) == (125.0, 0.0, -1)  # (50 + 200) / 2 shards
    board.step_rate = 400
    s = _samples(board)
    assert s["loadclient_offered_requests_total", ()] == 125
    assert s["loadclient_capacity_step_rate", ()] == 400
    assert s["loadclient_stage", ()] == -1


@pytest.mark.parametrize(
    "addr", ["127.0.0.1:99999", "127.0.0.1:²", "127.0.0.1:-1", "127.0.0.1", "x:y"]
)
def test_a_bad_metrics_addr_is_one_line_and_exit_2(
    addr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port past 65535 once escaped as bind()'s OverflowError traceback.
    argv = ["run", "--cache", "http://127.0.0.1:9", "--skip-upload", "--file", __file__]
    argv += ["--metrics-addr", addr]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"loadclient: --metrics-addr must be HOST:PORT, got {addr!r}\n"
