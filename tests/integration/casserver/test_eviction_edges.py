"""The evictor's edges against real processes: its server gone early, junk in the store,
the evictor killed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS
from tests.integration.casserver.test_eviction import budget_env, metric, stored_bytes
from tests.support import PYTHON, ServerProcess

MIB = 1 << 20


def processes_naming(text: str) -> list[int]:
    """Return the pids of this user's processes whose command line contains text."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry))
    return found


# A server that starts its evictor and ends as soon as the evictor process exists, long
# before the evictor has imported anything.
START_AND_END = """
import os, sys, time
from pathlib import Path
from casserver import lifecycle
from casserver.config import Config
from tests.integration.casserver.test_eviction_edges import processes_naming
lifecycle.start_evictor(Config(storage_dir=Path(sys.argv[1]), max_bytes="1GiB"))
deadline = time.monotonic() + 10
while not processes_naming("casserver.evictor\\0" + sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.001)
os._exit(0)
"""


def test_an_evictor_whose_server_ended_before_it_started_ends_too(tmp_path: Path) -> None:
    """A server stopped while its evictor still imported left it running for good."""
    storage = tmp_path / "evictor-orphan-storage"
    subprocess.run([PYTHON, "-c", START_AND_END, str(storage)], check=True, timeout=30)
    deadline = time.monotonic() + 15
    try:
        while processes_naming(str(storage)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_naming(str(storage)) == []
    finally:
        for pid in processes_naming(str(storage)):
            os.kill(pid, signal.SIGKILL)


def evictor_pids(storage: Path, deadline_s: float = 15.0) -> list[int]:
    """Return the pids of storage's evictors, waiting (bounded) until there is one."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        pids = processes_naming("casserver.evictor\0" + str(storage))
        if pids:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no evictor for {storage} within {deadline_s:g}s")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", SERVERS)
def test_a_killed_evictor_is_started_again_and_keeps_the_budget(
    casserver: Callable[..., ServerProcess], tmp_path: Path, server: str
) -> None:
    """An evictor the OOM killer took left the volume without eviction until a restart."""
    storage = tmp_path / "data"
    budget = 2 * MIB
    url = casserver(storage=storage, env=budget_env(0, budget), server=server).base_url
    for _ in range(2):  # two deaths in a row: each one is followed by a new evictor
        (victim,) = evictor_pids(storage)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15  # the first restarts wait 1 and 2 s
        while evictor_pids(storage) in ([], [victim]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert victim not in evictor_pids(storage)
    # The last one keeps the budget: 6 MiB go in, the store comes back under 2 MiB.
    for _ in range(6):
        data = os.urandom(MIB)
        digest = hashlib.sha256(data).hexdigest()
        assert requests.put(f"{url}/cas/{digest}", data=data, timeout=30).status_code == 201
    deadline = time.monotonic() + 30
    while stored_bytes(storage) > budget and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_bytes(storage) <= budget
    assert metric(url, "cas_evicted_total") >= 4
    assert len(evictor_pids(storage)) == 1
