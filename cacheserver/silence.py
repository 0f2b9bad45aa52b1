"""Telling a silent upstream from a slow one while a request waits for its answer.

A host whose packets are dropped (a black hole: no RST) never acknowledges the request
we sent; a live but slow server's kernel acknowledges it at once and the answer comes
later. So while the answer's first byte is awaited, the connection's own TCP state is
looked at (Linux TCP_INFO: segments sent and not acknowledged): past `silent_after_s`
with the request still unacknowledged, the wait ends (SilentTimeout), long before the
read timeout, which keeps governing a slow but answering upstream. Where TCP_INFO is not
available the wait is the plain read timeout.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from typing import Any, Final

from urllib3.connection import HTTPConnection

# struct tcp_info: eight u8 fields, then u32 rto, ato, snd_mss, rcv_mss, unacked, ...
_TCP_INFO: Final = getattr(socket, "TCP_INFO", None)
_UNACKED: Final = struct.Struct("8x4xIIII")  # skips rto; ato, snd_mss, rcv_mss, unacked
_INFO_BYTES: Final = 104
STEP_S: Final = 0.05


class SilentTimeout(TimeoutError):
    """SilentTimeout means the request was never acknowledged: the upstream is silent."""


def unacked(sock: socket.socket) -> int | None:
    """Unacked returns how many sent segments the peer has not acknowledged (None: unknown)."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO_BYTES)
    except OSError:
        return None
    if len(info) < _UNACKED.size:
        return None
    return int(_UNACKED.unpack_from(info)[3])


class WatchedConnection(HTTPConnection):
    """WatchedConnection is urllib3's connection that gives up on a silent upstream early."""

    def __init__(self, *args: Any, silent_after_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.silent_after_s = silent_after_s

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:  # urllib3's own signature
        """Getresponse waits for the answer, raising SilentTimeout on an unacknowledged request."""
        sock = self.sock
        if sock is not None:
            self._await_first_byte(sock)
        return super().getresponse(*args, **kwargs)

    def _await_first_byte(self, sock: socket.socket) -> None:
        started = time.monotonic()
        limit = self.timeout if isinstance(self.timeout, (int, float)) else None
        poller = select.poll()  # not select(): a busy member has descriptors past 1024
        poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        while True:
            waited = time.monotonic() - started
            if limit is not None and waited >= limit:
                self.timeout = 0.001  # the read timeout, used up here, fires at once
                return
            if poller.poll(STEP_S * 1000):
                if limit is not None:
                    self.timeout = max(0.001, limit - waited)  # what is left of it
                return
            if waited >= self.silent_after_s:
                pending = unacked(sock)
                if pending is None:
                    return  # no TCP_INFO: wait as urllib3 would
                if pending > 0:
                    raise SilentTimeout(f"request not acknowledged within {self.silent_after_s:g}s")
