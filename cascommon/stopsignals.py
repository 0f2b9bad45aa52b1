"""Stop signals in a forked worker that is still booting: their default action, not a flag."""

from __future__ import annotations

import os
import signal
from typing import Final

_STOP: Final = (signal.SIGTERM, signal.SIGINT)


def default_after_fork() -> None:
    """Let SIGTERM and SIGINT end a worker still booting, in every process forked from now on.

    A forked worker runs the main process's handlers until it installs its own, and
    those only flag the signal for a main loop the worker does not run: a worker
    forked just before a stop ignored SIGTERM and ran on until SIGKILL (gunicorn and
    granian alike, and granian's main process then waited for it forever). With the
    default action, a worker that serves nothing yet just ends.

    The stop signals are blocked across the fork itself: one reaching the child before
    its handlers are reset was taken by the main process's handler, and then dropped
    by Python (a pending signal whose handler is now the default is skipped), so the
    worker booted and ran on until granian's kill timeout. Blocked, it waits in the
    kernel and ends the child as soon as the default action is in place.
    """
    saved: list[set[int]] = []  # the mask before each fork, to restore after

    def block() -> None:
        saved.append(signal.pthread_sigmask(signal.SIG_BLOCK, _STOP))

    def restore() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved.pop())

    def default_then_restore() -> None:
        for sig in _STOP:
            signal.signal(sig, signal.SIG_DFL)
        restore()  # a stop that came meanwhile ends the child here

    os.register_at_fork(before=block, after_in_parent=restore, after_in_child=default_then_restore)
