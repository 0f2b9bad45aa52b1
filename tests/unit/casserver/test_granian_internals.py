"""granian's private stop flag that casserver/granianserver.py reads is still there."""

from __future__ import annotations

from granian import Granian


def test_granian_sets_interrupt_signal_when_asked_to_stop() -> None:
    # Fails when a granian upgrade renames the flag: a clean stop of casserver under
    # granian would then exit 1 (as a crash) instead of 0.
    server = Granian("casserver.rsgi:app")
    assert server.interrupt_signal is False
    server.signal_handler_interrupt()
    assert server.interrupt_signal is True
