"""Exit codes of `loadclient run` and `loadclient merge`, and the verdict's mapping to them.

Exit codes:
  0  the run completed, every threshold passed and the generator kept to its schedule
  1  a threshold (--max-error-rate, --max-p99, ...) failed, or no request succeeded
  2  usage or configuration error
  3  the run could not happen: upload failed, casserver unreachable, unreadable --file
  4  the generator fell behind (send lag, achieved rate, dropped requests, its own descriptor
     or port limits): the results cannot be trusted (takes precedence over 1, since
     thresholds were judged on a load that was not offered)
  130 interrupted (Ctrl-C): the report covers what was sent before it (a second Ctrl-C
      stops at once, without one)
"""

from __future__ import annotations

from typing import Final

from cascommon.settings import EXIT_CONFIG
from loadclient.report import Verdict

EXIT_OK: Final = 0
EXIT_THRESHOLD: Final = 1
EXIT_USAGE: Final = EXIT_CONFIG  # as in the servers
EXIT_SETUP: Final = 3
EXIT_BEHIND: Final = 4
EXIT_INTERRUPTED: Final = 130


def exit_code(verdict: Verdict) -> int:
    """Exit_code maps a verdict to the exit code: 130, then 4 (over 1), then 1, else 0."""
    if verdict.interrupted:
        return EXIT_INTERRUPTED
    if verdict.behind:
        return EXIT_BEHIND
    return EXIT_THRESHOLD if verdict.failures else EXIT_OK
