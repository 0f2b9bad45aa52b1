"""The evictor watcher's back-off between restarts."""

from __future__ import annotations

from casserver.evictorwatch import FIRST_BACKOFF_S, MAX_BACKOFF_S, STEADY_S, restart_wait_s


def test_restarts_back_off_while_it_dies_at_once_and_reset_after_a_long_run() -> None:
    waits, backoff = [], FIRST_BACKOFF_S
    for _ in range(9):  # dies at once each time
        wait, backoff = restart_wait_s(backoff, 0.1)
        waits.append(wait)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert restart_wait_s(backoff, STEADY_S) == (FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S)
    assert restart_wait_s(MAX_BACKOFF_S, STEADY_S - 1) == (MAX_BACKOFF_S, MAX_BACKOFF_S)
