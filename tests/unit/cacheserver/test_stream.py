"""BlobStream holds the last chunk back until the digest matches; Gate refuses, never queues."""

from __future__ import annotations

import hashlib

import pytest

from cacheserver.errors import CorruptBlob, Overloaded
from cacheserver.gate import Gate
from cacheserver.stream import BlobStream
from cascommon.digest import parse_digest
from tests.unit.cacheserver.fakes import FakeBody


def test_the_right_bytes_pass_whole() -> None:
    data = bytes(range(256)) * 40
    stream = BlobStream(FakeBody(data), parse_digest(hashlib.sha256(data).hexdigest()))
    closed: list[bool] = []
    stream.on_close(lambda: closed.append(True))
    assert b"".join(stream) == data
    stream.close()
    stream.close()
    assert closed == [True]  # once


def test_wrong_bytes_never_pass_whole() -> None:
    data, wrong = b"a" * 5000, b"b" * 5000
    sizes: list[int] = []
    stream = BlobStream(
        FakeBody(wrong), parse_digest(hashlib.sha256(data).hexdigest()), sizes.append
    )
    sent = b""
    with pytest.raises(CorruptBlob):
        for chunk in stream:
            sent += chunk
    assert len(sent) < len(wrong)  # the last chunk was held back
    assert sizes == [len(wrong)]


def test_a_gate_refuses_past_its_limit_and_reopens() -> None:
    gate = Gate(2, "misses")
    gate.enter()
    gate.enter()
    with pytest.raises(Overloaded):
        gate.enter()
    gate.leave()
    gate.enter()
