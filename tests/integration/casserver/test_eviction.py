"""The storage budget against real casservers: uploads never fail, the budget holds, hot
blobs and blobs used within the grace stay, and one evictor works per shared volume.

Scaled to CI: 512 MiB of distinct blobs (1 KiB-4 MiB) through a 64 MiB budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from casserver.actionresult import ActionResult
from tests.integration.casserver.conftest import SERVERS
from tests.support import PYTHON, ServerProcess

MIB = 1 << 20
BUDGET = 64 * MIB
MAX_BLOB = 4 * MIB
UPLOADERS = 4
HOT = 32
GRACE_S = 2.0
OUT_OF_GRACE_S = GRACE_S + 0.6  # the grace, plus how late uses are recorded, plus a margin


def stored_bytes(storage: Path) -> int:
    """Return what the budget counts on disk: blobs by SHA-256 and action results."""
    total = 0
    for top in ("sha256", "ac"):
        for dirpath, _, names in os.walk(storage / top):
            for name in names:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except FileNotFoundError:
                    pass
    return total


@dataclass
class Load:
    """Load uploads distinct blobs to servers while reading a hot set, and watches the disk."""

    urls: list[str]
    storage: Path
    total_bytes: int
    failures: list[str] = field(default_factory=list)
    hot_misses: list[str] = field(default_factory=list)
    max_stored: int = 0
    uploaded: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_hot(self) -> list[str]:
        hot = []
        for i in range(HOT):
            data = os.urandom(random.randint(1024, 256 * 1024))
            digest = hashlib.sha256(data).hexdigest()
            r = requests.put(f"{self.urls[i % len(self.urls)]}/cas/{digest}", data=data, timeout=30)
            assert r.status_code == 201, r.text
            hot.append(digest)
        return hot

    def upload(self, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as session:
            for i in range(10_000):
                with self.lock:
                    if self.uploaded >= self.total_bytes:
                        return
                    size = min(rng.choice([1024, 64 * 1024, MIB, MAX_BLOB]), MAX_BLOB)
                    size = rng.randint(size // 2, size)
                    self.uploaded += size
                data = os.urandom(size)
                digest = hashlib.sha256(data).hexdigest()
                url = self.urls[(seed + i) % len(self.urls)]
                r = session.put(f"{url}/cas/{digest}", data=data, timeout=60)
                if r.status_code != 201:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")

    def read_hot(self, hot: list[str]) -> None:
        with requests.Session() as session:
            for i in range(1_000_000):
                if self.done.is_set():
                    return
                digest = hot[i % len(hot)]
                r = session.get(f"{self.urls[i % len(self.urls)]}/cas/{digest}", timeout=30)
                if r.status_code != 200:
                    self.hot_misses.append(f"{r.status_code} {digest} {r.text[:200]}")

    def watch(self) -> None:
        for _ in range(1_000_000):
            if self.done.is_set():
                return
            self.max_stored = max(self.max_stored, stored_bytes(self.storage))
            time.sleep(0.01)

    def run(self) -> list[str]:
        hot = self.put_hot()
        # Two readers: each hot blob is read every few tens of milliseconds.
        side = [threading.Thread(target=self.read_hot, args=(hot[i::2],)) for i in range(2)]
        side.append(threading.Thread(target=self.watch))
        uploaders = [threading.Thread(target=self.upload, args=(n,)) for n in range(UPLOADERS)]
        for t in side + uploaders:
            t.start()
        for t in uploaders:
            t.join(120)
        time.sleep(0.5)  # the reader goes on a moment after the last upload
        self.done.set()
        for t in side:
            t.join(30)
        return hot


def metric(url: str, name: str) -> float:
    """Return the sum of a metric's samples named exactly name on url's /metrics."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and line[len(name)] in " {"
    )


def budget_env(grace_s: float, budget: int = BUDGET) -> dict[str, str]:
    return {"CAS_MAX_BYTES": str(budget), "CAS_EVICT_GRACE_S": str(grace_s)}


def check_load(load: Load, hot: list[str]) -> None:
    assert load.failures == []
    assert load.hot_misses == []
    # The evictor works behind the uploads: at most the uploads in flight over the budget.
    assert load.max_stored <= BUDGET + UPLOADERS * MAX_BLOB, load.max_stored
    assert stored_bytes(load.storage) <= BUDGET
    for digest in hot:
        assert (load.storage / "sha256" / digest[:2] / digest).is_file()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("replicas", "total_bytes"), [(1, 512 * MIB), (2, 256 * MIB)], ids=["one", "shared-volume"]
)
def test_budget_holds_under_uploads_and_hot_blobs_stay(
    casserver: Callable[..., ServerProcess], tmp_path: Path, replicas: int, total_bytes: int
) -> None:
    storage = tmp_path / "data"
    # Replicas on one volume (the shared-storage overlay): one worker each, same budget.
    servers = [
        casserver(storage=storage, workers=2 // replicas, env=budget_env(0))
        for _ in range(replicas)
    ]
    urls = [s.base_url for s in servers]
    load = Load(urls, storage, total_bytes)
    hot = load.run()
    check_load(load, hot)
    assert sum(metric(url, "cas_evicted_total") for url in urls) > 0
    evicted = sum(metric(url, "cas_evicted_bytes_total") for url in urls)
    assert evicted >= total_bytes - BUDGET
    passes = sorted(metric(url, "cas_eviction_passes_total") for url in urls)
    assert passes[-1] > 0 and passes[:-1] == [0] * (replicas - 1), passes  # one evictor


def evict(storage: Path, max_bytes: int) -> dict[str, object]:
    """Run ``casserver evict`` (the server's evictor does the pass) and return its result."""
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "casserver",
            "evict",
            "--storage",
            str(storage),
            "--max-bytes",
            str(max_bytes),
        ],  # fmt: skip
        capture_output=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def put(url: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{url}/cas/{digest}", data=data, timeout=10).status_code == 201
    return digest


def blob_path(storage: Path, digest: str) -> Path:
    """Return where the store keeps the blob named digest."""
    return storage / "sha256" / digest[:2] / digest


@contextmanager
def recorded(path: Path, deadline_s: float = 10.0) -> Iterator[None]:
    """Wait, after the block, until a use of path in it is recorded (its mtime moved).

    A worker's recency thread records reads every 50 ms, but a loaded machine can hold it
    back past any fixed sleep; a read recorded after the pass counts for nothing.
    """
    before = path.stat().st_mtime_ns
    yield
    deadline = time.monotonic() + deadline_s
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.stat().st_mtime_ns != before, f"no use of {path.name} recorded in {deadline_s}s"


@pytest.fixture(params=SERVERS)
def graced(
    request: pytest.FixtureRequest, casserver: Callable[..., ServerProcess], tmp_path: Path
) -> tuple[Path, str]:
    """Graced is a server with a grace of 2 s and a budget passes only reach when asked."""
    storage = tmp_path / "data"
    env = budget_env(GRACE_S, 1 << 40)
    return storage, casserver(storage=storage, env=env, server=request.param).base_url


@pytest.mark.timeout(60)
def test_a_blob_read_within_the_grace_survives_a_pass(graced: tuple[Path, str]) -> None:
    storage, url = graced
    old, read = put(url, os.urandom(MIB)), put(url, os.urandom(MIB))
    time.sleep(OUT_OF_GRACE_S)  # both out of the grace
    with recorded(blob_path(storage, read)):
        assert requests.get(f"{url}/cas/{read}", timeout=10).status_code == 200
        assert requests.head(f"{url}/cas/{read}", timeout=10).status_code == 200
    result = evict(storage, 1)  # everything out of the grace goes
    assert result["evicted_blobs"] == 1 and result["short"] is True
    assert not (storage / "sha256" / old[:2] / old).exists()
    assert requests.get(f"{url}/cas/{old}", timeout=10).status_code == 404
    assert requests.get(f"{url}/cas/{read}", timeout=10).status_code == 200


@pytest.mark.timeout(60)
def test_an_action_result_naming_an_evicted_blob_is_404(graced: tuple[Path, str]) -> None:
    storage, url = graced
    output = put(url, os.urandom(MIB))
    time.sleep(OUT_OF_GRACE_S)
    stdout = put(url, b"build log\n")
    result = ActionResult()
    file = result.output_files.add(path="out/bin")  # type: ignore[attr-defined]
    file.digest.hash, file.digest.size_bytes = output, MIB
    result.stdout_digest.hash, result.stdout_digest.size_bytes = stdout, 10  # type: ignore[attr-defined]
    key = hashlib.sha256(b"action").hexdigest()
    entry = result.SerializeToString()
    assert requests.put(f"{url}/ac/{key}", data=entry, timeout=10).status_code == 200
    with recorded(blob_path(storage, output)):
        got = requests.get(f"{url}/ac/{key}", timeout=10)
        assert (got.status_code, got.content) == (200, entry)
    # The hit refreshed the output: out of the grace again before the pass.
    time.sleep(OUT_OF_GRACE_S)
    stdout_only = hashlib.sha256(b"log only").hexdigest()
    rest = ActionResult()
    rest.stdout_digest.hash, rest.stdout_digest.size_bytes = stdout, 10  # type: ignore[attr-defined]
    assert requests.put(f"{url}/ac/{stdout_only}", data=rest.SerializeToString(), timeout=10).ok
    assert requests.put(f"{url}/ac/{key}", data=entry, timeout=10).ok  # in the grace again
    put(url, b"in the grace, keeps stdout company")
    with recorded(blob_path(storage, stdout)):
        requests.get(f"{url}/cas/{stdout}", timeout=10)
    assert evict(storage, 1)["evicted_blobs"] == 1  # the output, the only blob out of the grace
    assert requests.get(f"{url}/ac/{key}", timeout=10).status_code == 404
    assert requests.head(f"{url}/ac/{key}", timeout=10).status_code == 404
    assert requests.get(f"{url}/ac/{stdout_only}", timeout=10).status_code == 200
    assert metric(url, "cas_action_cache_requests_total") > 0
