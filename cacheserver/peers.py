"""The seam between "who owns this key" (the ring) and "how to reach it" (HTTP).

A peer that fails is skipped (health.py), so a dead member costs one fast connection
error, not one per request. A peer tracks its own health from what its fetches end in:
an error it relays from its origin (OriginFailed), a 404 or a 503 (busy) is an answer,
not a failure of the peer; a full bulkhead here is no news about the peer at all. While
an owner is skipped, its keys go to the next member on the ring that is not (route).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from cacheserver.health import MIN_BACKOFF_S as MIN_BACKOFF_S
from cacheserver.health import Health, State
from cacheserver.lengths import Oversize
from cacheserver.ring import Ring
from cacheserver.routes import PEER_BLOB_PREFIX
from cacheserver.upstream import Body, Upstream

T = TypeVar("T")


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
        slow_s: float = math.inf,
    ) -> None:
        self._upstream = upstream
        self.base_url = upstream.base_url
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self.health = Health(
            upstream.base_url, max_backoff_s, heard_window_s=upstream.first_byte_timeout_s,
            slow_s=slow_s, clock=clock,
        )  # fmt: skip

    @property
    def upstream(self) -> Upstream:
        """Upstream is the HTTP client the peer is reached with (probes use it too)."""
        return self._upstream

    def fetch(self, digest: str, limit: int) -> bytes | Oversize:
        """Fetch asks the peer for a blob (Oversize: over limit bytes); see Upstream.get."""
        return self._tracked(lambda: self._upstream.get(PEER_BLOB_PREFIX + digest, limit))

    def open(self, digest: str) -> Body:
        """Open asks the peer for a blob to stream; see Upstream.open."""
        return self._tracked(lambda: self._upstream.open(PEER_BLOB_PREFIX + digest))

    def _tracked(self, call: Callable[[], T]) -> T:
        return self.health.track(call)

    def available(self) -> bool:
        """Available reports whether the peer is out of its backoff period."""
        return self.health.available()

    def failed(self) -> float:
        """Failed starts or doubles the backoff period and returns its length."""
        return self.health.failed()

    def timed_out(self) -> float:
        """Timed_out backs off only a peer not heard from within a wait (see Health)."""
        return self.health.timed_out()

    def succeeded(self) -> None:
        """Succeeded ends the backoff."""
        self.health.succeeded()

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

    def route(self, key: str) -> Peer | None:
        """Route returns the peer to ask for key: its owner, or while that is backed off the
        next member on the ring that is not; None when that is this member (load it here).
        """
        with self._lock:
            ring, peers = self._ring, self._peers
        for url in ring.successors(key):
            if url == self.self_url:
                return None
            peer = peers.get(url)
            if peer is not None and peer.available():
                return peer
        return None

    def peers(self) -> list[Peer]:
        """Peers returns the other members' peers."""
        with self._lock:
            return list(self._peers.values())

    def health(self) -> list[tuple[str, State]]:
        """Health returns each peer's URL and state (a metric: peers are few, configured)."""
        return [(p.base_url, p.health.state()) for p in self.peers()]

    def close(self) -> None:
        """Close drops every peer's connections."""
        with self._lock:
            peers, self._peers = list(self._peers.values()), {}
        for peer in peers:
            peer.close()
