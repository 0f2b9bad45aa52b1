"""A frozen origin: hits from memory never wait behind the misses that wait for it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.integration.cacheserver.conftest import MEMBER_ENV, CacheCluster
from tests.support import PYTHON

Start = Callable[..., CacheCluster]
ORIGIN_TIMEOUT_S = float(MEMBER_ENV["CACHE_ORIGIN_TIMEOUT_S"])
HIT_RATE = 500
MISS_RATE = 50
ATTACK_S = 6


class MissDriver:
    """MissDriver asks a member for never-stored digests at a fixed rate, on threads."""

    def __init__(self, base_url: str, rate: int, duration_s: float) -> None:
        self.base_url, self.rate, self.duration_s = base_url, rate, duration_s
        self.results: list[tuple[int, float]] = []  # (status or 0 for an error, seconds)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(self.duration_s + 30)

    def _one(self) -> None:
        started = time.monotonic()
        try:
            status = requests.get(
                f"{self.base_url}/cas/{os.urandom(32).hex()}", timeout=10
            ).status_code
        except requests.RequestException:
            status = 0
        with self._lock:
            self.results.append((status, time.monotonic() - started))

    def _run(self) -> None:
        count = int(self.rate * self.duration_s)
        start = time.monotonic()
        with ThreadPoolExecutor(64) as pool:
            for i in range(count):  # bounded: rate x duration requests
                delay = start + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._one)


@pytest.mark.timing
def test_hits_never_wait_for_a_frozen_origin(cache_cluster: Start, tmp_path: Path) -> None:
    cluster = cache_cluster(n=3)
    blob = tmp_path / "hot"
    blob.write_bytes(os.urandom(25_000))
    digest = cluster.put(blob.read_bytes())
    for _ in range(3):  # into member 0's memory (main or hot cache)
        resp = cluster.get(0, digest)
    assert resp.status_code == 200 and resp.headers["X-Cache"] == "hit"

    cluster.origin.signal(signal.SIGSTOP)
    try:
        misses = [MissDriver(url, MISS_RATE // 3 + 1, ATTACK_S) for url in cluster.urls]
        for driver in misses:
            driver.start()
        hits = subprocess.run(
            [PYTHON, "-m", "loadclient", "run", "--cache", cluster.urls[0], "--file", str(blob),
             "--skip-upload", "--rate", f"{HIT_RATE}/1s", "--duration", f"{ATTACK_S}s",
             "--connections", "32", "--timeout", "10s", "--max-send-lag", "1s", "--quiet"],
            capture_output=True, text=True, timeout=ATTACK_S + 60,
        )  # fmt: skip
        for driver in misses:
            driver.join()
    finally:
        cluster.origin.signal(signal.SIGCONT)

    report = json.loads(hits.stdout)
    assert report["status_codes"] == {"200": report["requests"]}, report["status_codes"]
    assert report["success"] == 1.0 and not report["errors"], report["errors"]
    p99_ms = report["latencies"]["99th"] / 1e6
    assert p99_ms < 50, f"hit p99 {p99_ms:.1f} ms while the origin is frozen"

    results = [r for d in misses for r in d.results]
    assert len(results) >= MISS_RATE * ATTACK_S * 0.9
    statuses = {s for s, _ in results}
    assert statuses <= {502, 503, 504}, statuses
    slowest = max(t for _, t in results)
    assert slowest < ORIGIN_TIMEOUT_S + 1, f"a miss took {slowest:.2f}s to fail"
