"""Body checks on responses however the reads split them: headers, terminator, body, chunks."""

from __future__ import annotations

import errno
import hashlib
import os
from typing import Any

import pytest

from loadclient.connection import Connection, ReadBuffer
from loadclient.exchange import Exchange
from loadclient.pool import classify
from loadclient.response import dechunk

BODY = os.urandom(300)
DIGEST = hashlib.sha256(BODY).hexdigest()


class FakeAttacker:
    """FakeAttacker keeps every finished exchange and its verdict."""

    def __init__(self) -> None:
        self.done: list[tuple[Exchange, tuple[str | None, str], bool]] = []

    def completed(self, conn: Connection, ex: Exchange, done_ns: int, keep_alive: bool) -> None:
        self.done.append((ex, ex.verdict(), keep_alive))

    def failed(self, conn: Connection, ex: Exchange, kind: str, error: str) -> None:
        self.done.append((ex, (kind, error), False))


class FakeTransport:
    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass


def response(body: bytes, status: str = "200 OK", chunked: bool = False, extra: str = "") -> bytes:
    if chunked:
        framed = b"".join(
            b"%x\r\n" % len(body[i : i + 77]) + body[i : i + 77] + b"\r\n"
            for i in range(0, len(body), 77)
        )
        head = f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n{extra}\r\n"
        return head.encode() + framed + b"0\r\n\r\n"
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nServer: t\r\n{extra}\r\n"
    return head.encode() + body


def exchange_over(reads: list[bytes], expect: bytes | None = BODY) -> tuple[Any, ...]:
    attacker = FakeAttacker()
    conn = Connection(attacker, ReadBuffer(64))  # type: ignore[arg-type]
    conn.transport = FakeTransport()  # type: ignore[assignment]
    conn.send(Exchange(0, 0, b"GET", DIGEST, expect))
    for data in reads:
        conn.data_received(data)
    assert len(attacker.done) == 1
    return attacker.done[0]


def splits(raw: bytes) -> list[list[bytes]]:
    end = raw.find(b"\r\n\r\n")
    cuts = sorted({1, 5, 20, len(raw) - 1} | {end + i for i in range(-2, 6)})
    out = [[raw]]
    out += [[raw[:c], raw[c:]] for c in cuts if 0 < c < len(raw)]
    out.append([raw[i : i + 7] for i in range(0, len(raw), 7)])
    return out


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("hashing", [False, True])
def test_right_body_is_accepted_however_it_is_split(chunked: bool, hashing: bool) -> None:
    raw = response(BODY, chunked=chunked, extra="X-Cache: peer\r\n")
    for reads in splits(raw):
        ex, verdict, keep = exchange_over(reads, None if hashing else BODY)
        assert verdict == (None, ""), [len(r) for r in reads]
        assert ex.bytes_in == len(BODY) and ex.cache == b"peer" and keep


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("hashing", [False, True])
@pytest.mark.parametrize("flip", [0, 150, 299])
def test_one_wrong_byte_is_an_integrity_error(chunked: bool, hashing: bool, flip: int) -> None:
    bad = bytearray(BODY)
    bad[flip] ^= 1
    for reads in splits(response(bytes(bad), chunked=chunked)):
        _, (kind, msg), _ = exchange_over(reads, None if hashing else BODY)
        assert kind == "integrity" and "does not match the digest" in msg


def test_short_body_is_an_integrity_error() -> None:
    _, (kind, _), _ = exchange_over([response(BODY[:-1])])
    assert kind == "integrity"


def test_error_status_is_a_status_error() -> None:
    _, (kind, _), keep = exchange_over([response(b'{"status": 404}', "404 Not Found")])
    assert kind == "status" and keep


def test_connection_close_is_honoured() -> None:
    _, verdict, keep = exchange_over([response(BODY, extra="Connection: close\r\n")])
    assert verdict == (None, "") and not keep


def test_garbage_is_a_protocol_error() -> None:
    _, (kind, _), _ = exchange_over([b"SSH-2.0-OpenSSH\r\n\r\n"])
    assert kind == "protocol"


def testdechunk() -> None:
    assert dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n") == b"abcde"
    assert dechunk(b"3\r\nabcX\r\n0\r\n\r\n") is None
    assert dechunk(b"zz\r\n") is None


@pytest.mark.parametrize("hashing", [False, True])
def test_body_ended_by_close_is_a_whole_answer(hashing: bool) -> None:
    # No Content-Length and not chunked (HTTP/1.0 style): the body runs to the close (RFC 9112
    # 6.3), so a clean close completes it and the body is judged on its bytes.
    for body, kind in ((BODY, None), (BODY[:-1], "integrity")):
        attacker = FakeAttacker()
        conn = Connection(attacker, ReadBuffer(64))  # type: ignore[arg-type]
        conn.transport = FakeTransport()  # type: ignore[assignment]
        conn.send(Exchange(0, 0, b"GET", DIGEST, None if hashing else BODY))
        conn.data_received(b"HTTP/1.0 200 OK\r\nServer: t\r\n\r\n" + body)
        assert attacker.done == []
        conn.connection_lost(None)
        [(ex, (got, _), keep)] = attacker.done
        assert got == kind and not keep and ex.bytes_in == len(body)


def test_body_ended_by_a_reset_is_cut_short() -> None:
    attacker = FakeAttacker()
    conn = Connection(attacker, ReadBuffer(64))  # type: ignore[arg-type]
    conn.transport = FakeTransport()  # type: ignore[assignment]
    conn.send(Exchange(0, 0, b"GET", DIGEST, BODY))
    conn.data_received(b"HTTP/1.0 200 OK\r\n\r\n" + BODY)
    conn.connection_lost(ConnectionResetError(104, "Connection reset by peer"))
    [(_, (kind, _), _)] = attacker.done
    assert kind == "protocol"


@pytest.mark.parametrize("hashing", [False, True])
def test_bytes_after_the_body_are_not_part_of_it(hashing: bool) -> None:
    # A server that writes junk after a Content-Length body broke the protocol, not the blob:
    # the body is judged on its Content-Length bytes (the junk fails whatever comes next).
    for reads in ([response(BODY) + b"junk"], [response(BODY)[:-5], response(BODY)[-5:] + b"j"]):
        ex, verdict, _ = exchange_over(reads, None if hashing else BODY)
        assert verdict == (None, "") and ex.bytes_in == len(BODY)


def test_each_answer_is_framed_by_its_own_header_block() -> None:
    # The framing of the last block is memoized per read buffer: blocks of the same length
    # that differ in a byte, on connections sharing that buffer, are still read apart.
    attacker = FakeAttacker()
    reads = ReadBuffer(64)
    conns = [Connection(attacker, reads) for _ in range(2)]  # type: ignore[arg-type]
    answers = [
        response(BODY, extra="X-Cache: MISS\r\n"),
        response(BODY, extra="X-Cache: PEER\r\n"),
        response(BODY, extra="X-Cache: PEER\r\n"),
        response(BODY, chunked=True, extra="X-Cache: HIT\r\n"),
        response(BODY[:-1], extra="X-Cache: hit\r\n"),
        response(BODY, extra="X-Cache: hit\r\n"),
    ]
    for i, answer in enumerate(answers):
        conn = conns[i % 2]
        conn.transport = FakeTransport()  # type: ignore[assignment]
        conn.send(Exchange(i, 0, b"GET", DIGEST, BODY))
        conn.data_received(answer)
    got = [(ex.cache, ex.chunked, kind) for ex, (kind, _), _ in attacker.done]
    assert got == [
        (b"miss", False, None), (b"peer", False, None), (b"peer", False, None),
        (b"hit", False, None), (b"hit", False, "integrity"), (b"hit", False, None),
    ]  # fmt: skip


class ClosedTransport(FakeTransport):
    """ClosedTransport is uvloop's transport after the server closed it: writes raise."""

    def __init__(self) -> None:
        self.aborted = False

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport>; the handler is closed")

    def abort(self) -> None:
        self.aborted = True


class Recorder(FakeAttacker):
    """Recorder also keeps retries and idle losses, to show each exchange ends exactly once."""

    def __init__(self) -> None:
        super().__init__()
        self.retried: list[Exchange] = []
        self.idle_lost = 0

    def retry(self, conn: Connection, ex: Exchange) -> None:
        self.retried.append(ex)

    def lost_idle(self, conn: Connection) -> None:
        self.idle_lost += 1


@pytest.mark.parametrize("closed_before", ["write", "connection_lost"])
def test_a_send_on_a_closed_connection_ends_the_exchange_once(closed_before: str) -> None:
    # The server accepted and closed at once: the write fails (or the close came first).
    # One protocol error now, never an exception and never a wait for --timeout.
    owner = Recorder()
    conn = Connection(owner, ReadBuffer(64))
    transport = ClosedTransport()
    conn.transport = transport  # type: ignore[assignment]
    if closed_before == "connection_lost":
        conn.connection_lost(None)
    conn.send(Exchange(0, 0, b"GET", DIGEST, BODY))
    conn.connection_lost(ConnectionResetError(104, "reset"))  # late news changes nothing
    assert [(kind, error) for _, (kind, error), _ in owner.done] == [
        ("protocol", "connection closed before a full response")
    ]
    assert owner.retried == [] and conn.exchange is None
    assert owner.idle_lost == (1 if closed_before == "connection_lost" else 0)


def test_a_reused_connection_closed_before_the_send_retries_it() -> None:
    owner = Recorder()
    conn = Connection(owner, ReadBuffer(64))
    conn.transport = ClosedTransport()  # type: ignore[assignment]
    conn.sends = 1  # it carried a request before: the server may close an idle keep-alive
    conn.send(Exchange(0, 0, b"GET", DIGEST, BODY))
    assert len(owner.retried) == 1 and owner.done == []


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connect"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connect"),
        (OSError(errno.EMFILE, "Too many open files"), "generator"),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), "generator"),
        (TimeoutError(), "timeout"),
    ],
)
def test_connect_failures_are_classified(exc: BaseException, kind: str) -> None:
    assert classify(exc)[0] == kind


INTERIM = (
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </cas/x>; rel=preload\r\n\r\n"
)


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("hashing", [False, True])
def test_interim_answers_are_read_past_to_the_final_one(chunked: bool, hashing: bool) -> None:
    # 100 Continue and 103 Early Hints precede the answer (RFC 9110 15.2); split at every byte,
    # in two reads, and one byte per read.
    raw = INTERIM + response(BODY, chunked=chunked, extra="X-Cache: hit\r\n")
    cuts = [[raw[:c], raw[c:]] for c in range(1, len(raw))] + [[raw]]
    for reads in [*cuts, [raw[i : i + 1] for i in range(len(raw))]]:
        ex, verdict, keep = exchange_over(reads, None if hashing else BODY)
        assert verdict == (None, ""), [len(r) for r in reads]
        assert ex.status == 200 and ex.cache == b"hit" and keep
        assert ex.bytes_in == len(BODY)


def test_an_interim_answer_then_an_error_is_the_error() -> None:
    ex, (kind, _), _ = exchange_over([INTERIM + response(b"nope", "404 Not Found")])
    assert kind == "status" and ex.status == 404


def test_an_interim_answer_alone_then_a_close_is_no_answer() -> None:
    attacker = FakeAttacker()
    conn = Connection(attacker, ReadBuffer(64))  # type: ignore[arg-type]
    conn.transport = FakeTransport()  # type: ignore[assignment]
    conn.send(Exchange(0, 0, b"GET", DIGEST, BODY))
    conn.data_received(INTERIM)
    assert attacker.done == []
    conn.connection_lost(None)
    [(ex, (kind, _), _)] = attacker.done
    assert kind == "protocol" and ex.status == 0
