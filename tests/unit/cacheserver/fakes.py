"""Small in-process fakes of the origin and of peers (no sockets, no mocks)."""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import time
from collections.abc import Iterator, Mapping

from cacheserver.errors import CorruptBlob, NotFound, OriginFailed, Unavailable, UpstreamTimeout
from cacheserver.group import Group
from cacheserver.lengths import Oversize
from cacheserver.origin import Origin
from cacheserver.peers import Peer, PeerPicker
from cacheserver.stream import BlobStream
from cacheserver.upstream import Upstream
from cascommon.digest import parse_digest


def wait_until_waiting(threads: list[threading.Thread], deadline_s: float = 10.0) -> None:
    """Wait until every thread waits in Flight.do for a fill (past the lock, in result()).

    A sleep is no bound: a caller the machine holds back past it calls after the fill
    has ended, and starts a second one.
    """

    def waiting(thread: threading.Thread) -> bool:
        frame = sys._current_frames().get(thread.ident or 0)
        names = set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        return {"do", "result"} <= names

    deadline = time.monotonic() + deadline_s
    while not all(waiting(t) for t in threads) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert all(waiting(t) for t in threads), "callers not waiting for the fill"


def blob(n: int, size: int = 1000) -> tuple[str, bytes]:
    """Blob returns a digest and its content."""
    data = (hashlib.sha256(str(n).encode()).digest() * (size // 32 + 1))[:size]
    return hashlib.sha256(data).hexdigest(), data


class FakeBody:
    """FakeBody is an open body of known chunks."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self.length: int | None = len(data)
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


class FakeOrigin(Origin):
    """FakeOrigin serves a dict of blobs and counts fetches; it can lie, stall or be down."""

    def __init__(self, blobs: Mapping[str, bytes] | None = None) -> None:
        super().__init__(Upstream("http://origin.invalid", timeout_s=1.0))
        self.blobs = dict(blobs or {})
        self.fetches = 0
        self.delay_s = 0.0
        self.gate: threading.Event | None = None  # set: fetches wait (10 s at most) for it
        self.down = False
        self.corrupt = False
        self._lock = threading.Lock()

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        with self._lock:
            self.fetches += 1
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay_s)
        if self.down:
            raise Unavailable("origin down")
        if digest not in self.blobs:
            raise NotFound(digest)
        value = b"poison" + self.blobs[digest] if self.corrupt else self.blobs[digest]
        return Oversize(self.base_url, len(value), limit) if len(value) > limit else value

    def open(self, digest: str) -> FakeBody:  # type: ignore[override]
        value = self.fetch(digest, 1 << 62)
        assert isinstance(value, bytes)
        return FakeBody(value)


class FakePeer(Peer):
    """FakePeer reaches another in-process Group through its peer entry point."""

    def __init__(
        self, url: str, groups: dict[str, Group], corrupt: set[str], slow: set[str] | None = None
    ) -> None:
        super().__init__(Upstream(url, timeout_s=1.0), max_backoff_s=1.0)
        self._groups = groups
        self._corrupt = corrupt
        self._slow = set() if slow is None else slow
        self.fetches = 0
        self.delay_s = 0.0

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        self.fetches += 1
        value = self._tracked(lambda: self._answer(digest))
        return Oversize(self.base_url, len(value), limit) if len(value) > limit else value

    def open(self, digest: str) -> FakeBody:  # type: ignore[override]
        return FakeBody(self._tracked(lambda: self._answer(digest)))

    def _answer(self, digest: str) -> bytes:
        time.sleep(self.delay_s)
        if self.base_url in self._slow:
            raise UpstreamTimeout(f"{self.base_url} did not answer in time")
        group = self._groups.get(self.base_url)
        if group is None:
            raise Unavailable(f"{self.base_url} is down")
        try:
            value = group.get_for_peer(parse_digest(digest))
        except (Unavailable, CorruptBlob) as ex:
            raise OriginFailed(str(ex)) from ex  # as the peer listener relays it
        if isinstance(value, BlobStream):
            with contextlib.closing(value):
                value = b"".join(value)
        return b"x" + value if self.base_url in self._corrupt else value


class Cluster:
    """Cluster is a ring of in-process groups sharing one FakeOrigin."""

    def __init__(
        self,
        n: int = 3,
        cache_bytes: int = 1 << 20,
        negative_ttl_s: float = 5.0,
        max_fills: int = 16,
    ):
        self.max_fills = max_fills
        self.origin = FakeOrigin()
        self.urls = [f"http://m{i}:18001" for i in range(n)]
        self.groups: dict[str, Group] = {}
        self.corrupt: set[str] = set()
        self.slow: set[str] = set()
        self.peers: dict[tuple[str, str], FakePeer] = {}
        for url in self.urls:
            self.groups[url] = self.new_group(url, cache_bytes, negative_ttl_s)

    def new_group(self, url: str, cache_bytes: int, negative_ttl_s: float) -> Group:
        def new_peer(peer_url: str) -> Peer:
            peer = FakePeer(peer_url, self.groups, self.corrupt, self.slow)
            self.peers[(url, peer_url)] = peer
            return peer

        return Group(
            picker=PeerPicker(url, self.urls, new_peer),
            origin=self.origin,
            cache_bytes=cache_bytes,
            max_item_bytes=cache_bytes // 16,
            negative_ttl_s=negative_ttl_s,
            fill_timeout_s=5.0,
            max_fills=self.max_fills,
        )

    def owned_by(self, member: str, count: int = 1, start: int = 0) -> list[tuple[str, bytes]]:
        """Owned_by returns blobs (added to the origin) whose owner is member."""
        any_group = next(iter(self.groups.values()))
        found: list[tuple[str, bytes]] = []
        n = start
        while len(found) < count:
            digest, data = blob(n)
            n += 1
            owner = any_group.picker.owner(digest)
            owner_url = any_group.picker.self_url if owner is None else owner.base_url
            if owner_url == member:
                self.origin.blobs[digest] = data
                found.append((digest, data))
        return found

    def close(self) -> None:
        for group in self.groups.values():
            group.close()
