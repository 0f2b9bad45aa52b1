"""BodyReader: an RSGI request body as the blocking ``wsgi.input`` a WSGI app reads.

The bytes arrive on granian's event loop; the app reads them from a worker thread.
Every wait for more bytes happens on the loop under a deadline, so a client that
trickles or stalls is cut there and its thread and upload slot come back:

- the whole body must keep an average of ``min_rate_bps`` after ``grace_s``
  (``BodyTooSlow``, 408), and
- no wait for the next bytes may last longer than ``stall_s`` (``TruncatedBody``, 400,
  as gunicorn's per-read socket timeout answers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from casserver.upload import BodyTooSlow, TruncatedBody, UploadError


@dataclass(frozen=True, slots=True)
class BodyRules:
    """BodyRules are the time limits on an upload body."""

    min_rate_bps: int
    grace_s: float
    stall_s: float

    def rate_deadline(self, started: float, received: int) -> float:
        """Rate_deadline is when the body's average rate falls under the minimum."""
        if self.min_rate_bps <= 0:
            return float("inf")
        return started + max(self.grace_s, received / self.min_rate_bps)


class BodyReader:
    """BodyReader reads an RSGI body from a thread: ``read(size)`` like a socket file."""

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, rules: BodyRules
    ):
        self._chunks = chunks
        self._loop = loop
        self._rules = rules
        self._started = time.monotonic()
        self._received = 0
        self._pending = b""
        self._done = False

    def read(self, size: int | None = -1, /) -> bytes:
        """Read returns up to size bytes (everything left when size < 0); b"" at the end."""
        want = -1 if size is None or size < 0 else size
        if want == 0:
            return b""
        if not self._done and (want < 0 or len(self._pending) < want):
            future = asyncio.run_coroutine_threadsafe(self._fill(want), self._loop)
            self._pending += future.result()
        return self._take(want)

    def _take(self, want: int) -> bytes:
        if want < 0 or want >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:want], self._pending[want:]
        return data

    async def _fill(self, want: int) -> bytes:
        # Runs on the loop: gather at least want bytes (all of them when want < 0).
        parts: list[bytes] = []
        have = len(self._pending)
        while want < 0 or have < want:
            chunk = await self._next()
            if chunk is None:
                self._done = True
                break
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    async def _next(self) -> bytes | None:
        now = time.monotonic()
        rate_deadline = self._rules.rate_deadline(self._started, self._received)
        wait_s = min(self._rules.stall_s, rate_deadline - now)
        if wait_s <= 0:
            raise self._too_slow(now)
        try:
            # A timeout scope, not wait_for: no extra task per body chunk.
            async with asyncio.timeout(wait_s):
                chunk: bytes = await anext(self._chunks)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            now = time.monotonic()
            if now >= rate_deadline - 0.001:
                raise self._too_slow(now) from None
            raise TruncatedBody(
                f"request body stalled: no bytes for {self._rules.stall_s:g} s"
            ) from None
        except UploadError:
            raise
        except Exception as exc:  # granian's protocol: the client went away
            raise TruncatedBody(f"request body could not be read: {exc}") from exc
        self._received += len(chunk)
        return chunk

    def _too_slow(self, now: float) -> BodyTooSlow:
        elapsed = now - self._started
        return BodyTooSlow(
            f"request body arrived at {self._received / max(elapsed, 1e-9):.0f} B/s on average "
            f"over {elapsed:.1f} s, under the {self._rules.min_rate_bps} B/s minimum"
        )
