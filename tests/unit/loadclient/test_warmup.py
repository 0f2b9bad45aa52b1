"""The warm-up HEAD over fake transports: which connections it keeps, and that it is no result."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os

import pytest

from loadclient.attacker import Attacker
from loadclient.connection import Connection
from loadclient.durations import NS_PER_S, Rate
from loadclient.exchange import Exchange
from loadclient.plan import Plan

BODY = os.urandom(1000)
DIGEST = hashlib.sha256(BODY).hexdigest()
OK_HEAD = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nServer: t\r\n\r\n".encode()
GET_ANSWER = OK_HEAD + BODY


class AnsweringTransport:
    """AnsweringTransport answers each write with the next of its answers (None: never)."""

    def __init__(self, conn: Connection, answers: list[bytes | None]) -> None:
        self.conn, self.answers = conn, answers
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            asyncio.get_running_loop().call_soon(self.conn.data_received, answer)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def attacker(timeout_ns: int = NS_PER_S, connections: int = 3) -> Attacker:
    plan = Plan(
        host="127.0.0.1", port=8080, hot=BODY, hot_digest=DIGEST, rate=Rate(10),
        duration_ns=NS_PER_S, timeout_ns=timeout_ns, connections=connections,
    )  # fmt: skip
    return Attacker(plan)


def warm_up(a: Attacker, *answers: bytes | None) -> list[AnsweringTransport]:
    """Warm_up runs a.warm_up() with connections whose transports give these answers."""
    transports: list[AnsweringTransport] = []

    async def connect() -> Connection:
        conn = Connection(a, a.pool.reads)
        transport = AnsweringTransport(conn, [answers[len(transports)]])
        transports.append(transport)
        conn.transport = transport  # type: ignore[assignment]
        return conn

    a.pool.connect = connect  # type: ignore[method-assign]
    asyncio.run(a.warm_up())
    return transports


def test_warm_up_sends_one_head_per_connection_and_counts_none() -> None:
    a = attacker()
    transports = warm_up(a, OK_HEAD, OK_HEAD, OK_HEAD)
    assert len(a.idle) == 3
    for t in transports:
        assert t.written == [
            f"HEAD /cas/{DIGEST} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            "User-Agent: loadclient\r\nAccept: */*\r\n\r\n".encode()
        ]
    m = a.metrics
    assert m.requests == 0 and m.status_codes == {} and m.bytes_in == 0


def test_a_warm_connection_then_carries_a_get_as_usual() -> None:
    # The HEAD's answer announces a body (Content-Length) that never comes: the GET after it
    # must be parsed from its own first byte, by a parser that did not see the HEAD.
    a = attacker(connections=1)
    warm_up(a, OK_HEAD)
    conn = a.idle.pop()
    a.pool.busy.add(conn)
    a.start_ns = 1
    conn.send(Exchange(0, 1, a.targets.hot_request, DIGEST, BODY))
    conn.data_received(GET_ANSWER)
    a.recorder.flush()  # as the attacker does before anyone reads its metrics
    m = a.metrics
    assert m.requests == 1 and m.successes == 1 and m.status_codes == {200: 1}
    assert m.bytes_in == len(BODY) and conn.sends == 2


@pytest.mark.parametrize(
    ("answer", "kept", "warning"),
    [
        (b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n", True,
         "answered 405 Method Not Allowed on 1 of 1"),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", False, None),
        (b"HTTP/1.0 200 OK\r\n\r\n", False, None),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", True, None),
        (b"HTTP/1.1 200 OK\r\n\r\n", True, None),  # no Content-Length: still no body to HEAD
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
         + OK_HEAD, True, None),  # interim answers come before the final one
        (OK_HEAD + b"xyz", False, "answer to HEAD has a body"),
        (b"SMTP ready\r\n\r\n", False, "invalid HTTP answer"),
        (None, False, "no answer within the timeout on 1 of 1"),
    ],
)  # fmt: skip
def test_what_the_warm_up_keeps(
    caplog: pytest.LogCaptureFixture, answer: bytes | None, kept: bool, warning: str | None
) -> None:
    a = attacker(timeout_ns=50_000_000, connections=1)
    with caplog.at_level(logging.WARNING, logger="loadclient.warmup"):
        transports = warm_up(a, answer)
    assert len(a.idle) == int(kept)
    assert transports[0].closed == (not kept)
    assert a.metrics.requests == 0
    if warning is None:
        assert caplog.records == []
    else:
        assert len(caplog.records) == 1 and warning in caplog.records[0].getMessage()


def test_an_unreachable_server_is_a_warning_and_left_to_the_attack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The README promises a warning for a HEAD not answered at all; the attack's own
    # connects then count as errors (and the run fails: nothing succeeds).
    a = attacker()

    async def refuse() -> Connection:
        raise ConnectionRefusedError(111, "Connection refused")

    a.pool.connect = refuse  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="loadclient.warmup"):
        asyncio.run(a.warm_up())
    assert a.idle == [] and a.metrics.requests == 0
    assert len(caplog.records) == 1
    assert (
        "cannot connect: [Errno 111] Connection refused on 3 of 3" in caplog.records[0].getMessage()
    )


def test_a_close_before_the_answer_drops_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    a = attacker(connections=1)

    async def connect() -> Connection:
        conn = Connection(a, a.pool.reads)
        conn.transport = AnsweringTransport(conn, [])  # type: ignore[assignment]
        asyncio.get_running_loop().call_soon(conn.connection_lost, None)
        return conn

    a.pool.connect = connect  # type: ignore[method-assign]
    asyncio.run(a.warm_up())
    assert a.idle == []
    assert "connection closed before an answer on 1 of 1" in caplog.records[0].getMessage()
