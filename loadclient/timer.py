"""Timers that wake the attacker when its next request is due: precise (timerfd) or the loop's.

The event loop's own timers (libuv) count whole milliseconds from a clock read once per loop
iteration, so a request left 0.6-0.9 ms after it was due; latency counts from the due time,
so that error was most of what a fast server's latency showed. A timerfd expires at an
absolute CLOCK_MONOTONIC nanosecond (the clock of time.monotonic_ns) with no timer slack, and
its readable descriptor wakes the loop's epoll directly: requests leave ~20-80 µs after they
are due, with no extra thread (a pacer thread sleeping in time.sleep measured 2-4x the lag: it
waits for the GIL, then must wake the loop anyway) and no spinning (waking early and spinning
costs a whole core at 1000/s). Each request then gets its own wake-up, which costs CPU at high
rates (~45-60 instead of ~35 µs per request at 5000/s); `--timer loop` keeps the old timers.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from collections.abc import Callable
from typing import Final, Protocol

PRECISE: Final = "precise"
LOOP: Final = "loop"
TIMERS: Final = (PRECISE, LOOP)

_NS_PER_S: Final = 1_000_000_000
_MS: Final = 1_000_000
_CLOCK_MONOTONIC: Final = 1
_TFD_CLOEXEC: Final = 0o2000000
_TFD_NONBLOCK: Final = 0o4000
_TFD_TIMER_ABSTIME: Final = 1


class Timer(Protocol):
    """Timer calls its callback once, on the loop, at (not before) the last time it was set to."""

    def wake_at(self, due_ns: int) -> None:
        """Wake_at (re)sets the timer to due_ns, monotonic; a past time fires at once."""

    def close(self) -> None:
        """Close cancels the timer and frees what it holds."""


class LoopTimer:
    """LoopTimer uses the loop's timers, rounded up to whole milliseconds (never early)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[[], None],
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._loop, self._callback, self._clock = loop, callback, clock
        self._handle: asyncio.TimerHandle | None = None

    def wake_at(self, due_ns: int) -> None:
        # A delay under 1 ms rounds to 0 in libuv and would spin a core: wait the whole ms.
        wait_ns = max(0, -(-(due_ns - self._clock()) // _MS) * _MS)
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(wait_ns / _NS_PER_S, self._callback)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class PreciseTimer:
    """PreciseTimer is a Linux timerfd watched by the loop: nanosecond due times, no thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._settime = libc.timerfd_settime
        self.fd: int = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if self.fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_create failed (errno {errno})")
        self._loop, self._callback = loop, callback
        self._spec = _Itimerspec()
        self._value = self._spec.it_value
        self._ref = ctypes.byref(self._spec)
        self._armed = False
        loop.add_reader(self.fd, self._fired)

    def wake_at(self, due_ns: int) -> None:
        self._armed = True
        self._set(max(1, due_ns))  # 0 would disarm it

    def _set(self, due_ns: int) -> None:
        value = self._value
        value.tv_sec, value.tv_nsec = divmod(due_ns, _NS_PER_S)
        if self._settime(self.fd, _TFD_TIMER_ABSTIME, self._ref, None) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_settime failed (errno {errno})")

    def _fired(self) -> None:
        # Setting the timer again clears its expiry, which saves a read() per wake-up; when
        # the callback does not set it, disarm it, or the descriptor would stay readable.
        self._armed = False
        self._callback()
        if not self._armed and self.fd >= 0:
            self._set(0)

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


def make_timer(kind: str, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Timer:
    """Make_timer is a PreciseTimer for "precise" where timerfd exists, else a LoopTimer."""
    if kind == PRECISE:
        try:
            return PreciseTimer(loop, callback)
        except (OSError, AttributeError):  # not Linux: no timerfd (AttributeError from ctypes)
            pass
    return LoopTimer(loop, callback)
