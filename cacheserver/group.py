"""Group composes the caches, the ring, singleflight and the loaders into one get()."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Final

from cachetools import TTLCache

from cacheserver.errors import CorruptBlob, Full, NotFound, OriginFailed, TooLarge, Unavailable
from cacheserver.hedge import BACKUP, Hedger
from cacheserver.lengths import Oversize
from cacheserver.lru import ByteLRU
from cacheserver.malloc import Trimmer
from cacheserver.origin import Origin
from cacheserver.peers import Peer, PeerPicker
from cacheserver.singleflight import Flight
from cacheserver.stats import Stats
from cacheserver.stream import BlobStream
from cascommon.digest import Digest

log = logging.getLogger(__name__)

# Where a value came from, as sent in X-Cache.
HIT: Final = "hit"
PEER: Final = "peer"
MISS: Final = "miss"
ORIGIN: Final = "origin"  # the upstream a miss of a key this member loads itself waits on

HOT_FRACTION: Final = 8  # the hot cache gets 1/8 of the bytes, as in groupcache
# What one cached value costs beyond its bytes: its 64-hex key, the bytes object's
# header, the LRU's entries and the dict hits read (measured with tracemalloc: ~340-360 bytes).
ITEM_OVERHEAD_BYTES: Final = 352
NEGATIVE_ITEMS: Final = 4096
# Freed heap pages go back to the system after each eighth of the budget is evicted.
TRIM_FRACTION: Final = 8

Value = bytes | BlobStream


class _TryOrigin(Exception):
    """_TryOrigin means the key's owner failed: the member loads the key itself."""


Filled = tuple[bytes | Oversize, str]  # Oversize: too large to cache, to be streamed


class Group:
    """Group answers gets from memory, from the key's owner or from the origin.

    The main cache holds keys this member owns; the hot cache holds keys owned by
    others, so a popular key does not cost a peer round trip on every get.
    """

    def __init__(
        self,
        *,
        picker: PeerPicker,
        origin: Origin,
        cache_bytes: int,
        max_item_bytes: int,
        negative_ttl_s: float,
        fill_timeout_s: float,
        peer_fill_timeout_s: float | None = None,
        max_fills: int = 16,
        hedger: Hedger[bytes | Oversize] | None = None,
    ) -> None:
        hot_bytes = cache_bytes // HOT_FRACTION
        self.max_item_bytes = max_item_bytes
        self.main = ByteLRU(cache_bytes - hot_bytes, max_item_bytes, ITEM_OVERHEAD_BYTES)
        self.hot = ByteLRU(hot_bytes, max_item_bytes, ITEM_OVERHEAD_BYTES)
        self._trimmer = Trimmer(cache_bytes // TRIM_FRACTION)
        self.picker = picker
        self.origin = origin
        self.counters = Stats() if hedger is None else hedger.stats
        self._hedger = hedger
        self.fill_timeout_s = fill_timeout_s
        self.peer_fill_timeout_s = peer_fill_timeout_s or fill_timeout_s
        # Two pools, so an owner's origin loads, which peers wait for, never queue
        # behind its own fills that wait for other owners: under a burst of cold keys
        # each member's pool filled with waits on the others, and nothing moved until
        # the peer timeouts broke the circle with duplicate origin loads.
        self._origin_fills: Flight[str, Filled] = Flight(max_fills, "origin-fill")
        self._peer_fills: Flight[str, Filled] = Flight(max_fills, "peer-fill")
        self._negative: TTLCache[str, bool] = TTLCache(
            NEGATIVE_ITEMS, ttl=negative_ttl_s, timer=time.monotonic
        )
        self._negative_lock = threading.Lock()

    def cached(self, key: str) -> bytes | None:
        """Cached returns a cached value (counted as a hit) or None; this is the hot path.

        A miss is not counted here: the load that follows it is.
        """
        value = self.main.get(key)
        if value is None:
            value = self.hot.get(key)
        return value

    def upstream_for(self, key: str) -> str:
        """Upstream_for names what a miss of key waits on: its owner or fallback, or "origin"."""
        peer = self.picker.route(key)
        return ORIGIN if peer is None else peer.base_url

    def get(self, digest: Digest, *, forward: bool = True) -> tuple[Value, str]:
        """Get returns the blob (bytes, or a BlobStream when too large to cache) and its source.

        forward=False loads a key another member owns from the origin (a reroute).
        """
        value = self.cached(digest.hex)
        if value is not None:
            return value, HIT
        return self._load(digest, forward=forward)

    def cached_for_peer(self, key: str) -> bytes | None:
        """Cached_for_peer is cached() for the peer listener: a hit counts a ServerRequest."""
        value = self.cached(key)
        if value is not None:
            self.counters.add("ServerRequests")
        return value

    def get_for_peer(self, digest: Digest) -> Value:
        """Get_for_peer answers the peer endpoint: own cache or own origin load, never forwarded."""
        self.counters.add("ServerRequests")
        value = self.cached(digest.hex)
        if value is not None:
            return value
        return self._load(digest, forward=False)[0]

    def _load(self, digest: Digest, *, forward: bool) -> tuple[Value, str]:
        self.counters.add("Loads")
        key = digest.hex
        with self._negative_lock:
            missing = self._negative.get(key, False)
        if missing:
            self.counters.add("NegativeHits")
            raise NotFound(f"{key} not found (cached)")
        peer = self.picker.route(key) if forward else None
        if forward and peer is not self.picker.owner(key):
            self.counters.add("FallbackLoads")  # the owner is backed off
        # The owner's client gets and the peer requests it receives share one flight
        # (peer None): both load from the origin, so they must not race to it twice.
        if peer is None:
            flight, timeout_s = self._origin_fills, self.fill_timeout_s
        else:
            flight, timeout_s = self._peer_fills, self.peer_fill_timeout_s
        (value, source), _shared = flight.do(key, lambda: self._fill(digest, peer), timeout_s)
        if isinstance(value, Oversize):
            # Too large to cache: each caller streams its own copy, never held whole.
            return self._stream(digest, peer if source == PEER else None, value)
        return value, source

    def _fill(self, digest: Digest, peer: Peer | None) -> Filled:
        # Singleflight merges only overlapping loads: one that finished just before
        # this fill started has already cached the value.
        key = digest.hex
        cached = self.main.peek(key)
        if cached is None:
            cached = self.hot.peek(key)
        if cached is not None:
            return cached, HIT
        self.counters.add("LoadsDeduped")
        started = time.perf_counter()
        if peer is not None and not peer.available():
            # Backed off since it was routed to (a probe found it gone): skipped all the same.
            self.counters.add("FallbackLoads")
        elif peer is not None:
            try:
                value, won = self._from_owner(peer, digest)
            except _TryOrigin:
                pass
            else:
                if won == BACKUP:
                    return self._filled_from_origin(digest, value, started)
                if isinstance(value, bytes):
                    # groupcache keeps 1 in 10 of these; keeping every one means a
                    # member pays one round trip per key, and the hot LRU's small
                    # budget still keeps only the recently used.
                    self._keep(self.hot, key, value)
                    self._log_fill(digest, PEER, value, started, peer.base_url)
                return value, PEER
        try:
            value = self._from_origin(digest)
        except NotFound:
            with self._negative_lock:
                self._negative[key] = True
            log.info("blob not found", extra={"digest": key})
            raise
        return self._filled_from_origin(digest, value, started)

    def _filled_from_origin(
        self, digest: Digest, value: bytes | Oversize, started: float
    ) -> Filled:
        if isinstance(value, bytes):
            owned = self.picker.owner(digest.hex) is None
            self._keep(self.main if owned else self.hot, digest.hex, value)
            self._log_fill(digest, MISS, value, started, self.origin.base_url)
        return value, MISS

    def _from_owner(self, peer: Peer, digest: Digest) -> Filled:
        """_from_owner asks the peer, hedged to the origin when the peer is slow to answer."""
        if self._hedger is None:
            return self._from_peer(peer, digest), PEER
        delay_s = peer.health.hedge_delay_s(self._hedger.max_delay_s)
        return self._hedger.run(
            lambda: self._from_peer(peer, digest), lambda: self._from_origin(digest), delay_s
        )

    def _keep(self, cache: ByteLRU, key: str, value: bytes) -> None:
        """_keep caches a filled value; what it evicted is, now and then, given back to the OS."""
        cache.add(key, value)
        self._trimmer.freed(self.main.evicted_bytes() + self.hot.evicted_bytes())

    def _from_peer(self, peer: Peer, digest: Digest) -> bytes | Oversize:
        """_from_peer returns the owner's verified value, or Oversize when too large to cache.

        It raises _TryOrigin when the peer itself failed (or is busy). A 404
        and an origin failure the owner reports are passed on: the owner asked the
        origin already, and a 404 from a peer is not remembered (the peer may be wrong).
        """
        try:
            value = peer.fetch(digest.hex, self.max_item_bytes)
            if isinstance(value, bytes):
                self._verify(digest, value, peer.base_url)
        except NotFound:
            raise
        except OriginFailed as ex:
            # The owner's origin load failed. While the origin looks up from here, the
            # fault may be the owner's own link (a lossy one): load it here once.
            if self.origin.health.available():
                raise _TryOrigin from ex
            raise
        except CorruptBlob as ex:
            peer.failed()
            self._peer_error(peer, digest, ex)
            raise _TryOrigin from ex
        except Full as ex:  # this member's bulkhead for that peer: reroute, quietly
            raise _TryOrigin from ex
        except Unavailable as ex:
            self._peer_error(peer, digest, ex)
            raise _TryOrigin from ex
        self.counters.add("PeerLoads")
        return value

    def _peer_error(self, peer: Peer, digest: Digest, ex: Exception) -> None:
        self.counters.add("PeerErrors")
        log.warning(
            "peer load failed, loading from the origin",
            extra={"digest": digest.hex, "peer": peer.base_url, "error": str(ex)},
        )

    def _from_origin(self, digest: Digest) -> bytes | Oversize:
        try:
            value = self.origin.fetch(digest.hex, self.max_item_bytes)
            if isinstance(value, bytes):
                self._verify(digest, value, self.origin.base_url)
        except (Unavailable, CorruptBlob, TooLarge) as ex:
            self.counters.add("LocalLoadErrs")
            log.warning(
                "origin load failed",
                extra={"digest": digest.hex, "origin": self.origin.base_url, "error": str(ex)},
            )
            raise
        self.counters.add("LocalLoads")
        return value

    def _stream(self, digest: Digest, peer: Peer | None, probe: Oversize) -> tuple[BlobStream, str]:
        """_stream opens the blob at the owner (falling back to the origin) to pass it on.

        probe is what the size probe found: a length that contradicts it fails here,
        before any header is sent (lengths.check_length).
        """
        self.counters.add("Streams")
        if peer is not None:
            try:
                body, on_corrupt = peer.open(digest.hex), self._corrupt_stream(peer.base_url, peer)
                stream = BlobStream(body, digest, on_corrupt, source=peer.base_url, probe=probe)
                return stream, PEER
            except (NotFound, OriginFailed):
                raise
            except (Unavailable, CorruptBlob) as ex:  # CorruptBlob: a length it cannot mean
                self._peer_error(peer, digest, ex)
        body, source = self.origin.open(digest.hex), self.origin.base_url
        return BlobStream(
            body, digest, self._corrupt_stream(source), source=source, probe=probe
        ), MISS

    def _corrupt_stream(
        self, source: str, peer: Peer | None = None
    ) -> Callable[[CorruptBlob], None]:
        def corrupt(ex: CorruptBlob) -> None:
            self.counters.add("VerifyErrors")
            if peer is not None:
                peer.failed()
            log.error(
                "streamed blob is not the key's; refused or cut short",
                extra={"source": source, "error": str(ex)},
            )

        return corrupt

    def _verify(self, digest: Digest, value: bytes, source: str) -> None:
        if not digest.matches(value):
            self.counters.add("VerifyErrors")
            log.error(
                "blob does not match its digest; not cached",
                extra={"digest": digest.hex, "source": source, "bytes": len(value)},
            )
            raise CorruptBlob(f"{source} sent {len(value)} bytes that do not hash to {digest.hex}")

    @staticmethod
    def _log_fill(digest: Digest, source: str, value: bytes, started: float, frm: str) -> None:
        log.info(
            "cache fill",
            extra={"digest": digest.hex, "x_cache": source, "from": frm, "bytes": len(value),
                   "duration_ms": round((time.perf_counter() - started) * 1000, 3)},
        )  # fmt: skip

    def stats(self) -> dict[str, Any]:
        """Stats returns groupcache's counters plus each cache's size, items and evictions."""
        main, hot = self.main.stats(), self.hot.stats()
        counters = self.counters.snapshot()
        hits = main.hits + hot.hits
        return {
            "Gets": hits + counters["Loads"],
            "CacheHits": hits,
            **counters,
            "main": asdict(main),
            "hot": asdict(hot),
        }

    def in_flight(self) -> int:
        """In_flight returns how many fills are running."""
        return self._origin_fills.in_flight() + self._peer_fills.in_flight()

    def close(self) -> None:
        """Close stops new fills and drops pooled connections."""
        self._origin_fills.close()
        self._peer_fills.close()
        if self._hedger is not None:
            self._hedger.close()
        self.picker.close()
        self.origin.close()
