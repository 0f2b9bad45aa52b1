"""Stop signals in a forked worker that is still booting: their default action, not a flag."""

from __future__ import annotations

import os
import signal


def default_after_fork() -> None:
    """Let SIGTERM and SIGINT end a worker still booting, in every process forked from now on.

    A forked worker runs the main process's handlers until it installs its own, and
    those only flag the signal for a main loop the worker does not run: a worker
    forked just before a stop ignored SIGTERM and ran on until SIGKILL (gunicorn and
    granian alike, and granian's main process then waited for it forever). With the
    default action, a worker that serves nothing yet just ends.
    """
    os.register_at_fork(after_in_child=_default_stop_signals)


def _default_stop_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
