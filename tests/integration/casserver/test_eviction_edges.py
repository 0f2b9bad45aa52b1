"""The evictor's edges against real processes: its server gone early, junk in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.support import PYTHON


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
