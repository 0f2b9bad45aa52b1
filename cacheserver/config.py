"""Cacheserver configuration: one frozen dataclass, loaded by its settings (``settings.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from cacheserver.settings import SERVERS as SERVERS
from cacheserver.settings import SETTINGS
from cascommon.kinds import split_host_port
from cascommon.settings import ConfigError as ConfigError  # re-exported for callers

MIB: Final = 1 << 20
# Request threads no miss may take: a hit needs one for microseconds.
RESERVED_FOR_HITS: Final = 2
# A miss fails within the origin timeout plus this (the bound is + 1 s).
FILL_SLACK_S: Final = 0.75


@dataclass(frozen=True, slots=True)
class Config:
    """Config holds every cacheserver setting; defaults suit one member on a laptop."""

    host: str = "0.0.0.0"
    port: int = 18001
    # The peer listener: /_groupcache/ only, so a NetworkPolicy can keep clients off it.
    peer_port: int = 18002
    # None: /metrics on the client port. Set: /metrics only on this port, for the same reason.
    metrics_port: int | None = None
    # Shared secret every member sends to the others' peer listener; None: no check.
    peer_token: str | None = field(default=None, repr=False)
    origin_url: str = "http://127.0.0.1:5000"
    # Bearer token sent on every origin fetch (casserver's CAS_READ_TOKEN, or its write
    # token); None: none. Forwarded PUTs and /ac/ carry the client's own header instead.
    origin_token: str | None = field(default=None, repr=False)
    # Peer base URLs of every member (self included); empty means a ring of one.
    peers: tuple[str, ...] = ()
    # This member's peer base URL as the others know it; None: see member_url.
    self_url: str | None = None
    # "name:port" of a headless Service whose A records are the members.
    peers_dns: str | None = None
    pod_ip: str | None = None
    # A StatefulSet pod's name: with peers_dns, this member is <pod>.<service>.
    pod_name: str | None = None
    dns_refresh_s: float = 10.0
    cache_bytes: int = 64 * MIB
    # None: cache_bytes // 16, so one blob never takes more than a sixteenth.
    max_item_bytes: int | None = None
    # Request threads mostly wait, on a fill or on another member. A member whose
    # threads all wait on other members cannot answer those members' peer requests
    # (queued behind, first in first out) until a peer wait ends: give it more threads
    # than the cold misses it must absorb at once. Not more by default: with 64, a
    # 25 KB hit under 64 connections measured 10-25% slower (GIL hand-offs).
    threads: int = 8
    # Origin loads and peer loads each run on a pool of this many threads: the work.
    fill_threads: int = 8
    # Distinct keys client requests may wait on at once (every request waiting for one
    # key's fill shares that key's place), two thirds of them at most for one peer (the
    # origin may take all). Past this a miss gets 503 + Retry-After at once. None:
    # threads - RESERVED_FOR_HITS, so threads stay for hits and one slow upstream
    # leaves places for the others.
    miss_waiters: int | None = None
    # The same bound for peer requests waiting on this member's fills.
    peer_waiters: int = 32
    # Connections the peer listener holds open at once; past this a new one gets 503 and a
    # close. Members hold about fill_threads each (more under a burst).
    peer_max_connections: int = 1024
    # A connection must send a request's headers within header_timeout_s and is closed
    # after idle_timeout_s without a request (granian's client port uses one timer for
    # both: idle_timeout_s; longer than nginx's 60 s upstream keepalive).
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 75.0
    # The largest body taken from the origin or a peer, with or without Content-Length.
    max_blob_bytes: int = 1 << 30
    peer_timeout_s: float = 2.0
    origin_timeout_s: float = 5.0
    # The longest one origin or peer fetch may take, body included (upstream.py).
    fetch_total_timeout_s: float = 30.0
    # Longest backoff from a failing peer; a probe brings it back only after it.
    peer_max_backoff_s: float = 2.0
    # Fault isolation (docs/faults.md). Connect deadline to peers and the origin.
    connect_timeout_s: float = 1.0
    # A request sent and no byte back within this: the upstream is silent (pooled
    # connections to a black hole). The origin's answers start at once; an owner's may
    # wait its own origin load, which the hedge below covers.
    origin_first_byte_s: float = 1.0
    peer_first_byte_s: float = 1.0
    # Requests this member may have open to each peer / to the origin at once (None:
    # fill_threads / 2 x fill_threads); a full peer bulkhead reroutes to the origin,
    # a full origin bulkhead answers 503 only to what needs the origin.
    peer_bulkhead: int | None = None
    origin_bulkhead: int | None = None
    # Forwarded PUTs, and forwarded /ac/ GET/HEADs, each in their own bulkhead (None:
    # threads / 2 and threads / 4): trickling uploads never block action-cache reads.
    forward_writes: int | None = None
    forward_reads: int | None = None
    # An owner that has not answered within twice its recent p90 (at most this) is
    # hedged to the origin; 0 turns hedging off.
    hedge_max_delay_s: float = 0.3
    # Hedges allowed per owner request, plus per second whatever the traffic.
    hedge_budget: float = 0.1
    hedge_min_per_s: float = 5.0
    # Every peer and the origin are probed this often, off the request path.
    probe_interval_s: float = 0.5
    # A peer whose recent median answer is slower than this is backed off like a failing one.
    peer_slow_s: float = 0.5
    negative_ttl_s: float = 5.0
    log_level: str = "INFO"
    server: str = "granian"

    def __post_init__(self) -> None:
        SETTINGS.check(self)
        self._check_ports()
        for url in (self.origin_url, *self.peers, *filter(None, [self.self_url])):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"not an http(s) base URL: {url!r}")
        if self.miss_limit < 1:
            raise ConfigError(f"CACHE_MISS_WAITERS must be >= 1, got {self.miss_limit}")
        if self.peers_dns is not None:
            dns_target(self)  # a ConfigError now, not a ring of unreachable URLs later

    @property
    def peer_bulkhead_size(self) -> int:
        """Peer_bulkhead_size is how many requests may be open to one peer at once."""
        return self.peer_bulkhead or self.fill_threads

    @property
    def origin_bulkhead_size(self) -> int:
        """Origin_bulkhead_size is how many requests may be open to the origin at once."""
        return self.origin_bulkhead or 2 * self.fill_threads

    @property
    def forward_limits(self) -> tuple[int, int]:
        """Forward_limits is how many forwarded writes and /ac/ reads may run at once."""
        writes = self.forward_writes or max(1, self.threads // 2)
        return writes, self.forward_reads or max(1, self.threads // 4)

    @property
    def item_limit_bytes(self) -> int:
        """Item_limit_bytes is the largest value the caches take."""
        return self.cache_bytes // 16 if self.max_item_bytes is None else self.max_item_bytes

    @property
    def miss_limit(self) -> int:
        """Miss_limit is how many client requests may wait at once (miss_waiters)."""
        if self.miss_waiters is not None:
            return self.miss_waiters
        return max(1, self.threads - RESERVED_FOR_HITS)

    def _check_ports(self) -> None:
        if self.peer_port == self.port:
            raise ConfigError("CACHE_PEER_PORT must differ from LISTEN_PORT")
        if self.metrics_port in (self.port, self.peer_port):
            raise ConfigError("CACHE_METRICS_PORT must differ from LISTEN_PORT and the peer port")

    @property
    def member_url(self) -> str:
        """Member_url is this member's base URL on the ring."""
        if self.self_url:
            return self.self_url.rstrip("/")
        if self.pod_name and self.peers_dns:
            # The stable name the other members find by reverse lookup (membership.py),
            # not the pod IP, so a restart keeps this member's ring positions.
            service, port = dns_target(self)
            return f"http://{self.pod_name}.{service.split('.', 1)[0]}:{port}"
        ip = self.pod_ip or "127.0.0.1"
        # Bracketed as membership.member_url spells DNS answers, or an IPv6 pod
        # would not find itself on its own ring.
        host = f"[{ip}]" if ":" in ip else ip
        return f"http://{host}:{self.peer_port}"

    @property
    def fill_timeout_s(self) -> float:
        """Fill_timeout_s bounds a wait for an origin load: its read timeout and a connect."""
        return self.origin_timeout_s + FILL_SLACK_S

    @property
    def peer_wait_s(self) -> float:
        """Peer_wait_s is how long a member waits for a key's owner to answer.

        The owner answers within its own fill_timeout_s (a value or a 504), so a
        shorter wait times out on a healthy, busy owner and loads the key twice.
        """
        return self.fill_timeout_s + self.peer_timeout_s

    @property
    def peer_fill_timeout_s(self) -> float:
        """Peer_fill_timeout_s bounds a wait for another member's key: owner, then origin."""
        return self.peer_wait_s + self.fill_timeout_s

    @classmethod
    def from_env(cls, environ: Mapping[str, str], args: argparse.Namespace | None = None) -> Config:
        """Return the Config environ and the flags in args (they win) give; unset: defaults."""
        return SETTINGS.load(cls, environ, args)


def dns_target(config: Config) -> tuple[str, int]:
    """Dns_target splits CACHE_PEERS_DNS into the name to resolve and the members' port."""
    if config.peers_dns is None:
        raise ConfigError("CACHE_PEERS_DNS is not set")
    try:
        name, port = split_host_port(config.peers_dns, min_port=1)
    except ValueError:
        name = ""
    if not name:
        raise ConfigError(f"CACHE_PEERS_DNS must be name:port, got {config.peers_dns!r}")
    return name, port
