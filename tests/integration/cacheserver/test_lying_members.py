"""A lying member (or origin), each lie for cached and streamed sizes: never a whole wrong answer.

The liar is a small fake peer server; the members are real processes, read by a raw socket
client that keeps exactly what arrived. Each answer is one of three, and which is exact:
the blob's own bytes (the member fell back to the origin), a 502 problem+json sent before any
header of the blob, or a cut stream: a blob's headers followed by fewer bytes than their
Content-Length and a closed connection (or, when the cut comes before the first chunk went
out, nothing at all); how many bytes precede a cut depends on how the reads fell.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from cacheserver.ring import Ring
from tests.conftest import Spawn
from tests.integration.cacheserver.conftest import MEMBER_ENV
from tests.integration.cacheserver.rawhttp import RawAnswer, raw_get
from tests.support import (
    LoopbackHTTPServer,
    QuietHandler,
    ServerProcess,
    cacheserver_argv,
    free_port,
)

LIMIT = 65536  # CACHE_MAX_ITEM_BYTES: over it a blob streams
SIZES = {"cached": 8000, "streamed": 200_000}
DRIP_BYTES, DRIP_EVERY_S = 1024, 0.05
ENV = {
    **MEMBER_ENV,
    "CACHE_MAX_ITEM_BYTES": str(LIMIT),
    "CACHE_FETCH_TOTAL_TIMEOUT_S": "2",  # a drip is cut after 2 s
    # A short backoff: each case waits until the member's probes brought the liar back
    # (wait_until_used), so every case reaches it.
    "CACHE_PEER_BACKOFF_S": "0.01",
    # Hedges off: on a loaded machine the liar can answer a probe after the hedge delay
    # (0.3 s for a peer with no recent answers), and the honest origin's copy then wins:
    # right, but not the lie this test means to put through (CI once saw it, a 200 whole).
    "CACHE_HEDGE_MAX_DELAY_S": "0",
}

# Each lie, and whether the liar first answers the size probe of a streamed blob honestly
# (its first request for the key: right length, right bytes) and lies only after.
LIES = {
    "wrong-bytes": False,  # the right length, the last byte flipped
    "short-body": False,  # a whole answer one byte short: Content-Length n - 1
    "zero-length": True,  # 200 with Content-Length: 0
    "probe-mismatch": True,  # half the length it said to the size probe
    "close-mid-body": False,  # Content-Length n, half the bytes, then a close
    "slow-drip": False,  # 1 KiB per 50 ms, the last byte flipped
    "wrong-length": False,  # Content-Length n + 1, the n right bytes, then a close
    "no-length": True,  # Content-Length "\xb2" (a digit to str.isdigit), the right bytes
}


class Liar(LoopbackHTTPServer):
    """Liar answers any GET of a path ending in a digest with that blob, lying as told."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.lies: dict[str, str] = {}  # digest -> lie
        self.requests: Counter[str] = Counter()
        lock = threading.Lock()
        liar = self

        class Handler(QuietHandler):
            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except OSError:  # the member reset the connection: it cut the lie short
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.endswith("healthz"):  # a member's background probe: it lies only
                    self.send_body(b"ok")  # about blobs, so the member keeps asking it
                    return
                digest = self.path.rsplit("/", 1)[-1]
                with lock:
                    liar.requests[digest] += 1
                    nth = liar.requests[digest]
                data, lie = liar.blobs[digest], liar.lies[digest]
                if LIES[lie] and nth == 1 and len(data) > LIMIT:
                    lie = "honest"  # only a streamed blob has a size probe before its stream
                try:
                    self.answer(data, lie)
                except OSError:
                    self.close_connection = True  # the member cut it

            def answer(self, data: bytes, lie: str) -> None:
                n = len(data)
                flipped = data[:-1] + bytes([data[-1] ^ 1])
                length, body, close = {
                    "honest": (n, data, False),
                    "wrong-bytes": (n, flipped, False),
                    "short-body": (n - 1, data[:-1], False),
                    "zero-length": (0, b"", False),
                    "probe-mismatch": (n // 2, data[: n // 2], False),
                    "close-mid-body": (n, data[: n // 2], True),
                    "slow-drip": (n, flipped, False),
                    "wrong-length": (n + 1, data, True),
                    "no-length": ("\xb2", data, True),
                }[lie]
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n"
                head += "Content-Type: application/octet-stream\r\n\r\n"
                self.wfile.write(head.encode("latin-1"))
                if lie == "slow-drip":
                    for start in range(0, len(body), DRIP_BYTES):  # bounded by the body
                        self.wfile.write(body[start : start + DRIP_BYTES])
                        time.sleep(DRIP_EVERY_S)
                else:
                    self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = close

        super().__init__(Handler)


@dataclass
class Setup:
    """Setup is the liar, a member that has it as a peer, and a member that has it as origin."""

    liar: Liar
    through_peer: ServerProcess  # ring [itself, liar], origin: a real casserver
    origin_put: Callable[[bytes], str]
    over_origin: ServerProcess  # ring of one, origin: the liar
    over_origin_peer_port: int
    ring: Ring

    def blob(self, size: int, lie: str, *, owned_by_liar: bool) -> tuple[str, bytes]:
        """Blob makes a fresh blob of size (owned by the liar if asked) that the liar lies about."""
        for _ in range(200):  # about half the keys are the liar's
            data = os.urandom(size)
            digest = hashlib.sha256(data).hexdigest()
            if not owned_by_liar or self.ring.owner(digest) == self.liar.url:
                self.liar.blobs[digest], self.liar.lies[digest] = data, lie
                return digest, data
        raise AssertionError("no key owned by the liar in 200 tries")


@pytest.fixture
def setup(spawn: Spawn, casserver: Callable[..., ServerProcess]) -> Iterator[Setup]:
    liar = Liar({})
    try:
        origin = casserver(workers=1)
        port, peer_port = free_port(), free_port()
        me = f"http://127.0.0.1:{peer_port}"
        argv = cacheserver_argv(
            port=port, peer_port=peer_port, origin=origin.base_url, peers=[me, liar.url]
        )
        through_peer = spawn(argv, base_url=f"http://127.0.0.1:{port}", env=ENV, name="member")
        port2, peer_port2 = free_port(), free_port()
        argv = cacheserver_argv(port=port2, peer_port=peer_port2, origin=liar.url)
        over_origin = spawn(argv, base_url=f"http://127.0.0.1:{port2}", env=ENV, name="member2")

        def put(data: bytes) -> str:
            digest = hashlib.sha256(data).hexdigest()
            resp = requests.put(f"{origin.base_url}/cas/{digest}", data=data, timeout=30)
            assert resp.status_code in (200, 201)
            return digest

        yield Setup(liar, through_peer, put, over_origin, peer_port2, Ring([me, liar.url]))
    finally:
        liar.close()


def wait_until_used(member: ServerProcess, upstream: str, deadline_s: float = 10.0) -> None:
    """Wait until member's probes brought upstream back from the back-off an earlier lie cost."""
    line = f'cacheserver_upstream_up{{upstream="{upstream}"}} 1.0'
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if line in requests.get(f"{member.base_url}/metrics", timeout=5).text:
            return
        time.sleep(0.05)
    raise AssertionError(f"{upstream} still backed off after {deadline_s:g}s")


def port_of(proc: ServerProcess) -> int:
    return int(proc.base_url.rsplit(":", 1)[1])


def expected(path: str, lie: str, size: str) -> str:
    """Expected is which answer a lie gets on a path: "right", "502" or "cut"."""
    if size == "cached":  # read whole and hashed before anything is sent
        return "right" if path == "through-peer" else "502"
    if LIES[lie]:  # a length the probe contradicts: refused before any header
        return "right" if path == "through-peer" else "502"
    return "cut"  # a length it kept to: only the hash at the end can tell


def check(answer: RawAnswer, want: str, digest: str, data: bytes, lie: str, path: str) -> None:
    where = (path, lie, len(data), answer.status, answer.headers, len(answer.body))
    # Whatever else happens, a whole 200 carries the blob's bytes.
    assert not (answer.status == 200 and answer.complete and answer.body[: len(data)] != data)
    if want == "right":
        assert answer.status == 200 and answer.complete and answer.body == data, where
        assert answer.length == len(data) and answer.headers["etag"] == f'"{digest}"', where
        assert answer.headers["x-cache"] == "miss", where  # from the origin, not the liar
    elif want == "502":
        assert answer.status == 502 and answer.complete, where
        assert "etag" not in answer.headers, where
        assert answer.problem()["status"] == 502, where
        if path == "peer-port":  # the origin's failure, which must not back this member off
            assert answer.headers["x-cache-origin-error"] == "1", where
    elif answer.status == 0:
        # Cut before the first chunk went out: granian then resets without a status line.
        assert path != "peer-port" and answer.body == b"", where
    else:
        assert answer.status == 200 and not answer.complete, where
        assert answer.length is not None and len(answer.body) < answer.length, where
        assert data.startswith(answer.body), where  # the unverified tail never went out
        if path != "peer-port":
            assert answer.headers["etag"] == f'"{digest}"', where


# Tries of a through-peer case in which the member did not ask the liar at all (see put_through).
ATTEMPTS = 5


def put_through(setup: Setup, size: str, lie: str, path: str) -> None:
    """Put one lie through one path, and check the answer and that the lie was asked for.

    A through-peer case is tried again, with a new blob, only when the member never asked
    the liar: it had backed the liar off again between wait_until_used and the request
    (seen once, under a full suite beside a busy loop). Its answer must then be the
    origin's right bytes; the case counts only once the lie went through.
    """
    routed_around: list[dict[str, object]] = []
    for _ in range(ATTEMPTS if path == "through-peer" else 1):
        digest, data = setup.blob(SIZES[size], lie, owned_by_liar=path == "through-peer")
        if path == "through-peer":
            setup.origin_put(data)  # the honest origin the member falls back to
            wait_until_used(setup.through_peer, setup.liar.url)  # a lie backs it off
            port, route = port_of(setup.through_peer), f"/cas/{digest}"
        elif path == "client-port":
            port, route = port_of(setup.over_origin), f"/cas/{digest}"
        else:
            port, route = setup.over_origin_peer_port, f"/_groupcache/cas/{digest}"
        answer = raw_get("127.0.0.1", port, route)
        if setup.liar.requests[digest] > 0 or path != "through-peer":
            check(answer, expected(path, lie, size), digest, data, lie, path)
            break
        check(answer, "right", digest, data, lie, path)  # the liar unasked: the origin's bytes
        stats = requests.get(f"{setup.through_peer.base_url}/stats", timeout=5).json()
        routed_around.append({k: stats[k] for k in ("FallbackLoads", "PeerErrors", "PeerLoads")})
    assert setup.liar.requests[digest] >= 1 + LIES[lie] * (size == "streamed"), (
        path, lie, setup.liar.requests[digest], routed_around,
    )  # fmt: skip


@pytest.mark.parametrize("size", SIZES)
def test_no_lie_of_a_member_or_an_origin_completes_a_wrong_answer(setup: Setup, size: str) -> None:
    for lie in LIES:
        for path in ("through-peer", "client-port", "peer-port"):
            put_through(setup, size, lie, path)
