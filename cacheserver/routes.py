"""Every route the cacheserver answers, spelled once."""

from __future__ import annotations

from typing import Final

BLOB: Final = "/cas/{digest}"
BLOB_PREFIX: Final = "/cas/"
STATS: Final = "/stats"
# The peer protocol, on the peer listener only.
PEER_PREFIX: Final = "/_groupcache/"
PEER_BLOB_PREFIX: Final = PEER_PREFIX + "cas/"
# A member's liveness, for the others' background probes (same token rule).
PEER_HEALTH: Final = PEER_PREFIX + "healthz"
