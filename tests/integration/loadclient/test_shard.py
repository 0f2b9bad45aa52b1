"""Two --shard generators with a shared --start-at, merged, against one generator at their sum."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.loadclient.conftest import REPO, Fault
from tests.support import PYTHON

RATE, SECONDS = 400, 2


def loadclient(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "loadclient", *args], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_two_shards_merged_equal_one_generator(
    fault: Fault,
    blob: Path,
    tmp_path: Path,
) -> None:
    url = fault("slow", delay_ms=0)
    common = ["run", "--cache", url, "--file", str(blob), "--skip-upload", "--quiet",
              "--rate", str(RATE), "--duration", f"{SECONDS}s", "--max-send-lag", "1s"]  # fmt: skip
    start = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    shards = [
        loadclient(
            *common,
            "--shard",
            f"{i}/2",
            "--seed",
            "s",
            "--start-at",
            start,
            "--output",
            str(tmp_path / f"shard{i}.json"),
        )  # fmt: skip
        for i in range(2)
    ]
    for proc in shards:
        code, _, err = finish(proc)
        assert code == 0, err
    reports = [json.loads((tmp_path / f"shard{i}.json").read_text()) for i in range(2)]
    for i, r in enumerate(reports):
        assert r["requests"] == RATE * SECONDS // 2 and r["target_rate"] == RATE / 2
        assert r["config"]["shard"] == f"{i}/2" and r["config"]["start_at"] == start
    # Both started at the shared wall-clock time (to within the send lag allowed).
    firsts = [datetime.fromisoformat(r["earliest"].rstrip("Z")[:26]) for r in reports]
    assert abs((firsts[0] - firsts[1]).total_seconds()) < 0.05
    assert abs((firsts[0] - datetime.fromisoformat(start[:-1])).total_seconds()) < 0.05

    code, out, err = finish(
        loadclient("merge", *(str(tmp_path / f"shard{i}.json") for i in (0, 1)))
    )
    assert code == 0, err
    merged = json.loads(out)
    code, out, err = finish(loadclient(*common))
    assert code == 0, err
    single = json.loads(out)

    # Exactly the requests of one generator at the summed rate.
    for key in ("requests", "status_codes", "success", "dropped", "target_rate"):
        assert merged[key] == single[key], key
    assert merged["integrity"] == single["integrity"]
    assert merged["bytes_in"] == single["bytes_in"]
    assert abs(merged["duration"] - single["duration"]) < 50_000_000  # same schedule span
    assert abs(merged["rate"] - single["rate"]) < RATE * 0.03
    # The merged histogram holds every shard's latencies, bucket by bucket.
    assert merged["mergeable"]["latency"]["total"] == RATE * SECONDS
    assert merged["latencies"]["max"] == max(r["latencies"]["max"] for r in reports)
    assert merged["latencies"]["min"] == min(r["latencies"]["min"] for r in reports)
    p50s = sorted(r["latencies"]["50th"] for r in reports)
    assert p50s[0] <= merged["latencies"]["50th"] <= p50s[1] * (1 + 1 / 2048)
