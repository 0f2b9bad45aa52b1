"""Cacheserver configuration: one frozen dataclass, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cascommon.envconfig import ConfigError as ConfigError  # re-exported for callers
from cascommon.envconfig import check_at_least_one, check_log_level, check_port

MIB: Final = 1 << 20
SERVERS: Final = ("granian", "gunicorn")


@dataclass(frozen=True, slots=True)
class Config:
    """Config holds every cacheserver setting; defaults suit one member on a laptop."""

    host: str = "0.0.0.0"
    port: int = 18001
    origin_url: str = "http://127.0.0.1:5000"
    # Base URLs of every member (self included); empty means a ring of one.
    peers: tuple[str, ...] = ()
    # This member's base URL as the others know it; None: see member_url.
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
    peer_timeout_s: float = 2.0
    origin_timeout_s: float = 5.0
    # The longest one origin or peer fetch may take, body included (upstream.py).
    fetch_total_timeout_s: float = 30.0
    peer_max_backoff_s: float = 5.0
    negative_ttl_s: float = 5.0
    log_level: str = "INFO"
    server: str = "granian"

    def __post_init__(self) -> None:
        check_port("LISTEN_PORT", self.port)
        for url in (self.origin_url, *self.peers, *filter(None, [self.self_url])):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"not an http(s) base URL: {url!r}")
        if self.cache_bytes < 0 or (self.max_item_bytes or 0) < 0:
            raise ConfigError("CACHE_BYTES and CACHE_MAX_ITEM_BYTES must not be negative")
        check_at_least_one("CACHE_THREADS", self.threads)
        check_at_least_one("CACHE_FILL_THREADS", self.fill_threads)
        for name in (
            "peer_timeout_s",
            "origin_timeout_s",
            "fetch_total_timeout_s",
            "negative_ttl_s",
            "dns_refresh_s",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.peers_dns is not None and not _split_host_port(self.peers_dns)[0]:
            raise ConfigError(f"CACHE_PEERS_DNS must be name:port, got {self.peers_dns!r}")
        check_log_level("LOG_LEVEL", self.log_level)
        if self.server not in SERVERS:
            raise ConfigError(f"server must be one of {SERVERS}")

    @property
    def item_limit_bytes(self) -> int:
        """Item_limit_bytes is the largest value the caches take."""
        return self.cache_bytes // 16 if self.max_item_bytes is None else self.max_item_bytes

    @property
    def member_url(self) -> str:
        """Member_url is this member's base URL on the ring."""
        if self.self_url:
            return self.self_url.rstrip("/")
        if self.pod_name and self.peers_dns:
            # The stable name the other members find by reverse lookup (membership.py),
            # not the pod IP, so a restart keeps this member's ring positions.
            service, port = _split_host_port(self.peers_dns)
            return f"http://{self.pod_name}.{service.split('.', 1)[0]}:{port}"
        ip = self.pod_ip or "127.0.0.1"
        # Bracketed as membership.member_url spells DNS answers, or an IPv6 pod
        # would not find itself on its own ring.
        host = f"[{ip}]" if ":" in ip else ip
        return f"http://{host}:{self.port}"

    @property
    def fill_timeout_s(self) -> float:
        """Fill_timeout_s bounds a wait for an origin load: the read timeout, connects, a queue."""
        return self.origin_timeout_s + 3.0

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
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        """From_env builds a Config from environment variables, defaulting what is unset."""
        values: dict[str, Any] = {}
        for name, (field, convert) in ENV.items():
            raw = environ.get(name, "").strip()
            if raw:
                try:
                    values[field] = convert(raw)
                except ValueError:
                    raise ConfigError(f"{name}: cannot use {raw!r}") from None
        addr = environ.get("CAS_SERVER_ADDR", "").strip()
        if addr and "origin_url" not in values:
            # host:port as the original; a full URL is taken as one, not made http://http://...
            values["origin_url"] = addr if "://" in addr else f"http://{addr}"
        return cls(**values)


def _url_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


# Environment variable -> (field, conversion); CAS_SERVER_ADDR is the Go original's host:port
# form of CAS_SERVER_URL, which wins when both are set.
ENV: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "CACHE_HOST": ("host", str),
    "LISTEN_PORT": ("port", int),
    "CAS_SERVER_URL": ("origin_url", str),
    "CACHE_PEERS": ("peers", _url_list),
    "CACHE_SELF": ("self_url", str),
    "CACHE_PEERS_DNS": ("peers_dns", str),
    "POD_IP": ("pod_ip", str),
    "POD_NAME": ("pod_name", str),
    "CACHE_PEERS_DNS_REFRESH_S": ("dns_refresh_s", float),
    "CACHE_BYTES": ("cache_bytes", int),
    "CACHE_MAX_ITEM_BYTES": ("max_item_bytes", int),
    "CACHE_THREADS": ("threads", int),
    "CACHE_FILL_THREADS": ("fill_threads", int),
    "CACHE_PEER_TIMEOUT_S": ("peer_timeout_s", float),
    "CACHE_ORIGIN_TIMEOUT_S": ("origin_timeout_s", float),
    "CACHE_FETCH_TOTAL_TIMEOUT_S": ("fetch_total_timeout_s", float),
    "CACHE_PEER_BACKOFF_S": ("peer_max_backoff_s", float),
    "CACHE_NEGATIVE_TTL_S": ("negative_ttl_s", float),
    "LOG_LEVEL": ("log_level", str.upper),
    "CACHE_SERVER": ("server", str),
}


def _split_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return (host, int(port)) if host else ("", 0)
    except ValueError:
        return "", 0


def dns_target(config: Config) -> tuple[str, int]:
    """Dns_target splits CACHE_PEERS_DNS into the name to resolve and the members' port."""
    if config.peers_dns is None:
        raise ConfigError("CACHE_PEERS_DNS is not set")
    return _split_host_port(config.peers_dns)
