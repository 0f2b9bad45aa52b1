"""Groupcache's counters for one member, updated off the hot path."""

from __future__ import annotations

import threading
from typing import Final

# Gets and CacheHits are not here: the caches count hits under the lock a lookup takes
# anyway, and every get that misses is a load, so Gets = CacheHits + Loads (Group.stats).
COUNTERS: Final = (
    "PeerLoads",  # values loaded from the key's owner
    "PeerErrors",  # failed loads from a peer (error, timeout or bad bytes)
    "Loads",  # gets that missed the cache: (Gets - CacheHits)
    "LoadsDeduped",  # fills that ran after singleflight merged concurrent loads
    "LocalLoads",  # values loaded from the origin
    "LocalLoadErrs",  # failed loads from the origin (404s are not errors)
    "ServerRequests",  # requests received on the peer endpoint
    "VerifyErrors",  # values from the origin or a peer that did not match their digest
    "NegativeHits",  # gets answered 404 from the short negative cache
    "Streams",  # values too large to cache, streamed from the owner or the origin
    "CallbackHits",  # hits answered from granian's callback (granianhits): 0 = hook inactive
    "HedgesFired",  # origin loads started because the owner was slow to answer
    "HedgesWon",  # of those, the ones that answered first
    "HedgesDenied",  # hedges the budget refused (the owner was waited for)
    "FallbackLoads",  # loads that skipped a backed-off owner (the next member, or the origin)
)


class Stats:
    """Stats holds named counters behind one lock: `+=` alone is not atomic across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Add increases counter name by n."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """Snapshot returns a copy of every counter."""
        with self._lock:
            return dict(self._counts)
