"""One request and its answer: status, X-Cache, and a body checked against the blob's digest."""

from __future__ import annotations

import hashlib

from loadclient.response import dechunk
from loadclient.result import INTEGRITY, PROTOCOL, STATUS, Result


class Exchange(Result):
    """Exchange is one request and what came back; the body is checked while it streams in.

    It is the Result it becomes (due, sent, status, bytes, X-Cache, key), plus the state of
    reading the answer: one object per request, not two, on the hot path.

    With expect set (the hot blob, whose bytes were hashed to its digest before the attack)
    the body is compared with those bytes in place; otherwise it is hashed and the hash
    compared with the digest. Either way a body is accepted only if it hashes to the digest.
    """

    __slots__ = (
        "hit", "request", "digest", "expect", "hasher", "mismatch", "retried", "in_body",
        "head", "chunked", "raw", "until_close", "length",
    )  # fmt: skip

    # An exchange in flight is one request, whatever its fields say: identity, not a value.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self, hit: int, due_ns: int, request: bytes, digest: str, expect: bytes | None,
        key: int = -1,
    ) -> None:  # fmt: skip
        # Result's fields set here rather than through its __init__: one call fewer per request.
        self.done_ns = 0
        self.bytes_out = 0
        self.error_kind: str | None = None
        self.error = ""
        self.hit = hit
        self.due_ns = due_ns
        self.request = request
        self.digest = digest
        self.expect = expect
        self.hasher = None if expect is not None else hashlib.sha256()
        self.sent_ns = 0
        self.status = 0
        self.bytes_in = 0  # body bytes (framing excluded), as Vegeta counts them
        self.mismatch = False
        self.cache: bytes | None = None
        self.retried = False
        self.in_body = False
        self.head = b""  # header bytes of earlier reads, while the header block is split
        self.chunked = False
        self.until_close = False  # no Content-Length, not chunked: the body ends at the close
        self.length = -1  # Content-Length, when the body has one
        self.raw: list[bytes] = []  # chunked bodies only: framing is removed at the end
        self.key = key  # which of --keys this asks for (-1: none of them)

    def body(self, buf: bytes | bytearray, view: memoryview, offset: int, end: int) -> None:
        """Body checks buf[offset:end] (view is memoryview(buf)), the next piece of the body."""
        n = end - offset
        if 0 <= self.length < self.bytes_in + n:  # bytes past the body's end are not the body
            n = max(0, self.length - self.bytes_in)
            end = offset + n
        if n <= 0 or self.status != 200:
            self.bytes_in += max(n, 0)
            return
        if self.chunked:
            self.raw.append(bytes(view[offset:end]))
            return
        pos = self.bytes_in
        self.bytes_in += n
        expect = self.expect
        if expect is None:
            assert self.hasher is not None
            self.hasher.update(view[offset:end])
        elif self.mismatch:
            pass
        elif pos == 0 and n == len(expect):
            self.mismatch = not buf.startswith(expect, offset, end)  # the whole body, memcmp
        else:
            self.mismatch = not expect.startswith(view[offset:end], pos)  # in place, no copy

    def verdict(self) -> tuple[str | None, str]:
        """Verdict is (None, "") for a good answer, else (error kind, message or "")."""
        if self.status != 200:
            return STATUS, ""
        if self.chunked:
            body = dechunk(b"".join(self.raw))
            self.chunked, self.raw, self.bytes_in = False, [], 0
            if body is None:
                return PROTOCOL, "malformed chunked body"
            self.body(body, memoryview(body), 0, len(body))
        if self.expect is not None:
            ok = not self.mismatch and self.bytes_in == len(self.expect)
        else:
            assert self.hasher is not None
            ok = self.hasher.hexdigest() == self.digest
        if ok:
            return None, ""
        return INTEGRITY, "200 OK with a body that does not match the digest"
