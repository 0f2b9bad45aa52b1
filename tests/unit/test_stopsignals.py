"""A stop signal that reaches a forked child before its handlers are reset still ends it."""

from __future__ import annotations

import signal
import subprocess

from tests.support import PYTHON

# The main process flags SIGTERM (as granian's does); a hook registered first sends the
# child a SIGTERM right after the fork, before stopsignals' hook resets the handler:
# the moment a stop reaches a granian worker that has only just forked.
CHILD = """
import os, signal, sys, time
from cascommon import stopsignals
signal.signal(signal.SIGTERM, lambda *_: None)
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGTERM))
stopsignals.default_after_fork()
pid = os.fork()
if pid == 0:
    time.sleep(0.01)  # the pending signal, if any is left, is taken here
    os._exit(0)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), signal.pthread_sigmask(signal.SIG_BLOCK, []))
"""


def test_a_stop_signal_in_the_first_moments_after_fork_ends_the_child() -> None:
    done = subprocess.run([PYTHON, "-c", CHILD], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    code, parent_mask = done.stdout.split(" ", 1)
    assert int(code) == -signal.SIGTERM  # ended by it, not booted on as if never sent
    assert parent_mask.strip() == "set()"  # the parent's mask is as it was
