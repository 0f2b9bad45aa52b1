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


def test_an_evictor_whose_server_ended_before_it_started_ends_too(tmp_path: Path) -> None:
    """A server stopped while its evictor still imported left it running for good."""
    storage = tmp_path / "evictor-orphan-storage"
    start = (
        "import os, sys; from pathlib import Path; from casserver import lifecycle; "
        "from casserver.config import Config; "
        "lifecycle.start_evictor(Config(storage_dir=Path(sys.argv[1]), max_bytes='1GiB')); "
        "os._exit(0)"  # the server ends at once, long before its evictor runs
    )
    subprocess.run([PYTHON, "-c", start, str(storage)], check=True, timeout=30)
    deadline = time.monotonic() + 15
    try:
        while processes_naming(str(storage)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_naming(str(storage)) == []
    finally:
        for pid in processes_naming(str(storage)):
            os.kill(pid, signal.SIGKILL)
