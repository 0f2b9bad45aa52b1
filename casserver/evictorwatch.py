"""Keep a server's evictor process running: one that dies is started again, after a back-off.

The evictor (``evictor``) ends by itself only once its server is gone, and this watcher, a
daemon thread of that server's main process, is then gone too. So an exit seen here is one
of two things. A death (the OOM killer, ``kill -9``, a crash): without a restart the volume
would go without eviction until the server restarted. Or a stop signal sent to the
server's whole process group (a terminal's Ctrl-C, ``procharness``): the server is then
stopping too, so that restart waits STOPPING_S, by when the server is usually gone. The
exit status only tells them apart for the log: gunicorn's master reaps the children it
sees exit, so ``wait`` may report 0 for an evictor that was killed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Final

log = logging.getLogger(__name__)

FIRST_BACKOFF_S: Final = 1.0
MAX_BACKOFF_S: Final = 60.0
# An evictor that ran this long died of something new: the next restart waits the least.
STEADY_S: Final = 60.0
# What an evictor ended by a stop signal reports (KeyboardInterrupt is a clean exit).
STOP_STATUSES: Final = frozenset({0, -signal.SIGTERM, -signal.SIGINT})
STOPPING_S: Final = 5.0


def restart_wait_s(backoff_s: float, ran_s: float) -> tuple[float, float]:
    """Return the wait before this restart and the back-off for the one after it.

    The back-off doubles up to MAX_BACKOFF_S while the evictor keeps dying at once, and
    starts again from FIRST_BACKOFF_S after it ran STEADY_S.
    """
    wait_s = FIRST_BACKOFF_S if ran_s >= STEADY_S else backoff_s
    return wait_s, min(MAX_BACKOFF_S, wait_s * 2)


def watch(argv: Sequence[str]) -> threading.Thread:
    """Start argv now and again whenever it exits, from a daemon thread; return the thread."""
    first = subprocess.Popen(list(argv))  # a failure here is the server's to report

    def run() -> None:
        proc: subprocess.Popen[bytes] | None = first
        backoff_s = FIRST_BACKOFF_S
        while True:
            started = time.monotonic()
            if proc is not None:
                status = proc.wait()
            ran_s = time.monotonic() - started
            wait_s, backoff_s = restart_wait_s(backoff_s, ran_s)
            if proc is not None:
                stopped = status in STOP_STATUSES
                wait_s = max(wait_s, STOPPING_S) if stopped else wait_s
                log.log(
                    logging.INFO if stopped else logging.ERROR,
                    "evictor stopped by a signal; starting it again unless the server stops"
                    if stopped
                    else "evictor exited; starting it again",
                    extra={"pid": proc.pid, "status": status, "ran_s": round(ran_s, 3),
                           "restart_in_s": wait_s},
                )  # fmt: skip
            time.sleep(wait_s)
            try:
                proc = subprocess.Popen(list(argv))
            except OSError:  # no fork now (memory, pids): after the next back-off
                log.exception("evictor could not be started; trying again")
                proc = None

    thread = threading.Thread(target=run, name="evictor-watch", daemon=True)
    thread.start()
    return thread
