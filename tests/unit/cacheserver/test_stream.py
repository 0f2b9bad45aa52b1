"""BlobStream holds the last chunk back until the digest matches; Gate refuses, never queues."""

from __future__ import annotations

import hashlib

import pytest

from cacheserver.errors import CorruptBlob, Overloaded, WrongLength
from cacheserver.gate import Gate
from cacheserver.lengths import Oversize
from cacheserver.stream import BlobStream
from cascommon.digest import Digest, parse_digest
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
    seen: list[CorruptBlob] = []
    stream = BlobStream(
        FakeBody(wrong), parse_digest(hashlib.sha256(data).hexdigest()), seen.append
    )
    sent = b""
    with pytest.raises(CorruptBlob):
        for chunk in stream:
            sent += chunk
    assert len(sent) < len(wrong)  # the last chunk was held back
    assert [str(ex).split()[0] for ex in seen] == [str(len(wrong))]


def test_a_gate_refuses_past_its_limit_and_reopens() -> None:
    gate = Gate(2, "misses")
    gate.enter()
    gate.enter()
    with pytest.raises(Overloaded):
        gate.enter()
    gate.leave()
    gate.enter()


EMPTY = parse_digest(hashlib.sha256(b"").hexdigest())
BLOB = parse_digest("ab" * 32)
SRC = "http://peer:1"


@pytest.mark.parametrize(
    ("digest", "length", "probe", "ok"),
    [
        (BLOB, None, None, True),  # no length: the hash at the end decides
        (BLOB, 0, None, False),  # only the empty digest has 0 bytes
        (EMPTY, 0, None, True),
        (EMPTY, 5, None, False),
        (BLOB, 300, Oversize(SRC, 300, 100), True),
        (BLOB, 0, Oversize(SRC, 300, 100), False),
        (BLOB, 299, Oversize(SRC, 300, 100), False),  # not what it said before
        (BLOB, 301, Oversize(SRC, 300, 100), False),
        (BLOB, 100, Oversize(SRC, None, 100), False),  # it ran past 100 bytes before
        (BLOB, 101, Oversize(SRC, None, 100), True),
        (BLOB, 50, Oversize("http://origin:2", 300, 100), True),  # another upstream's word
    ],
)  # fmt: skip
def test_a_declared_length_is_checked_before_anything_is_sent(
    digest: Digest, length: int | None, probe: Oversize | None, ok: bool
) -> None:
    body = FakeBody(b"x" * 10)
    body.length = length
    seen: list[CorruptBlob] = []
    if ok:
        BlobStream(body, digest, seen.append, source=SRC, probe=probe)
    else:
        with pytest.raises(WrongLength):
            BlobStream(body, digest, seen.append, source=SRC, probe=probe)
    assert body.closed == (not ok) and len(seen) == (not ok)


def test_right_bytes_under_a_longer_declared_length_never_pass_whole() -> None:
    data = b"c" * 5000
    body = FakeBody(data)
    body.length = len(data) + 1  # the upstream said one byte more than it sent
    sent = b""
    with pytest.raises(CorruptBlob):
        for chunk in BlobStream(body, parse_digest(hashlib.sha256(data).hexdigest())):
            sent += chunk
    assert len(sent) < len(data)
