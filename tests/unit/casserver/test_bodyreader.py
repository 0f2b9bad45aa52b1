"""BodyReader: an async body read from a thread, cut when too slow or stalled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from casserver.bodyreader import BodyReader, BodyRules
from casserver.slots import TooManyUploads, UploadSlots
from casserver.upload import BodyTooSlow, TruncatedBody

GENEROUS = BodyRules(min_rate_bps=0, grace_s=0, stall_s=10)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Loop is an event loop running in a thread, as granian's is beside the app threads."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


async def chunks(parts: list[bytes], pause_s: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause_s:
            await asyncio.sleep(pause_s)
        yield part


@pytest.mark.parametrize(
    ("rules", "started", "received", "deadline"),
    [
        (BodyRules(1000, 10, 60), 100.0, 0, 110.0),  # the grace comes first
        (BodyRules(1000, 10, 60), 100.0, 50_000, 150.0),  # 50 KB buy 50 s at 1000 B/s
        (BodyRules(0, 10, 60), 100.0, 0, float("inf")),  # no minimum rate
    ],
)
def test_rate_deadline(rules: BodyRules, started: float, received: int, deadline: float) -> None:
    assert rules.rate_deadline(started, received) == deadline


def test_reads_sizes_like_a_file(loop: asyncio.AbstractEventLoop) -> None:
    reader = BodyReader(chunks([b"abc", b"defg", b"h"]), loop, GENEROUS)
    assert reader.read(2) == b"ab"
    assert reader.read(5) == b"cdefg"
    assert reader.read(0) == b""
    assert reader.read() == b"h"
    assert reader.read(10) == b""


def test_a_trickle_under_the_minimum_rate_is_too_slow(loop: asyncio.AbstractEventLoop) -> None:
    trickle = chunks([b"x"] * 1000, pause_s=0.02)  # 50 B/s
    reader = BodyReader(trickle, loop, BodyRules(min_rate_bps=1000, grace_s=0.2, stall_s=10))
    with pytest.raises(BodyTooSlow, match="1000 B/s minimum"):
        reader.read(1 << 20)


def test_a_body_that_stops_is_truncated(loop: asyncio.AbstractEventLoop) -> None:
    async def stops() -> AsyncIterator[bytes]:
        yield b"some"
        await asyncio.sleep(60)
        yield b"never"

    reader = BodyReader(stops(), loop, BodyRules(min_rate_bps=0, grace_s=0, stall_s=0.1))
    with pytest.raises(TruncatedBody, match="stalled"):
        reader.read(100)


def test_upload_slots_refuse_past_the_limit() -> None:
    slots = UploadSlots(2, retry_after_s=3)
    with slots.hold(), slots.hold():
        with pytest.raises(TooManyUploads) as refused:
            with slots.hold():
                pass
        assert refused.value.retry_after_s == 3
    with slots.hold():  # released again
        pass
