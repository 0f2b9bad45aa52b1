"""The seam between "who owns this key" (the ring) and "how to reach it" (HTTP).

A peer that fails is skipped for a backoff period that doubles with each failure in
a row, so a dead member costs one fast connection error, not one per request. A peer
tracks its own health from what its fetches end in: an error it relays from its origin
(OriginFailed), a 404 or a 503 (busy) is an answer, not a failure of the peer.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

from cacheserver.errors import Busy, NotFound, OriginFailed, Unavailable, UpstreamTimeout
from cacheserver.lengths import Oversize
from cacheserver.ring import Ring
from cacheserver.routes import PEER_BLOB_PREFIX
from cacheserver.upstream import Body, Upstream

T = TypeVar("T")
MIN_BACKOFF_S: Final = 0.25


def normalize_url(url: str) -> str:
    """Normalize_url strips the trailing slash so one member has one spelling."""
    return url.strip().rstrip("/")


class Peer:
    """Peer is another ring member, reached over its peer endpoint."""

    def __init__(
        self,
        upstream: Upstream,
        max_backoff_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self.base_url = upstream.base_url
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._answered_at = -math.inf

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        """Fetch asks the peer for a blob (Oversize: over limit bytes); see Upstream.get."""
        return self._tracked(lambda: self._upstream.get(PEER_BLOB_PREFIX + digest, limit))

    def open(self, digest: str) -> Body:
        """Open asks the peer for a blob to stream; see Upstream.open."""
        return self._tracked(lambda: self._upstream.open(PEER_BLOB_PREFIX + digest))

    def _tracked(self, call: Callable[[], T]) -> T:
        try:
            result = call()
        except (NotFound, OriginFailed, Busy):
            self.succeeded()  # it answered; a busy peer is not a failing one
            raise
        except UpstreamTimeout:
            self.timed_out()
            raise
        except Unavailable:
            self.failed()
            raise
        self.succeeded()
        return result

    def available(self) -> bool:
        """Available reports whether the peer is out of its backoff period."""
        with self._lock:
            return self._clock() >= self._retry_at

    def failed(self) -> float:
        """Failed starts or doubles the backoff period and returns its length."""
        with self._lock:
            backoff_s = min(self.max_backoff_s, MIN_BACKOFF_S * float(2**self._failures))
            self._failures = min(self._failures + 1, 30)
            self._retry_at = self._clock() + backoff_s
            return backoff_s

    def timed_out(self) -> float:
        """Timed_out backs off (see failed) only from a peer that answered nothing lately.

        A peer that answered within the last wait is alive and busy, likely loading
        the key for us: backing off would send every key it owns to the origin too.
        """
        with self._lock:
            busy = self._clock() - self._answered_at < self._upstream.timeout_s
        return 0.0 if busy else self.failed()

    def succeeded(self) -> None:
        """Succeeded ends the backoff."""
        with self._lock:
            self._failures = 0
            self._retry_at = 0.0
            self._answered_at = self._clock()

    def close(self) -> None:
        """Close drops the pooled connections."""
        self._upstream.close()


PeerFactory = Callable[[str], Peer]


class PeerPicker:
    """PeerPicker knows the members and returns the peer that owns a key.

    Self is always a member: a member missing from its own ring would own nothing
    and forward every key (the Go original's mistake, mirrored).
    """

    def __init__(self, self_url: str, members: Iterable[str], new_peer: PeerFactory) -> None:
        self.self_url = normalize_url(self_url)
        self._new_peer = new_peer
        self._lock = threading.Lock()
        self._peers: dict[str, Peer] = {}
        self._ring = Ring([self.self_url])
        self.set_members(members)

    def set_members(self, members: Iterable[str]) -> bool:
        """Set_members replaces the member list; it reports whether it changed."""
        urls = {normalize_url(m) for m in members if m.strip()} | {self.self_url}
        with self._lock:
            if set(self._ring.members) == urls:
                return False
            peers = {u: self._peers.get(u) or self._new_peer(u) for u in urls - {self.self_url}}
            gone = [p for u, p in self._peers.items() if u not in peers]
            self._peers, self._ring = peers, Ring(urls)
        for peer in gone:
            peer.close()
        return True

    def members(self) -> tuple[str, ...]:
        """Members returns the sorted member URLs, self included."""
        return self._ring.members

    def owner(self, key: str) -> Peer | None:
        """Owner returns the peer that owns key, or None when this member owns it."""
        with self._lock:
            url = self._ring.owner(key)
            return None if url is None or url == self.self_url else self._peers[url]

    def close(self) -> None:
        """Close drops every peer's connections."""
        with self._lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.close()
