"""Casserver configuration: one frozen dataclass, loaded by its settings (``settings.py``).

This module imports nothing from prometheus_client: the main process reads it
before it has chosen where multiprocess metrics live (see ``lifecycle``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cascommon.granianrun import HEADER_TIMEOUT_RANGE_S
from cascommon.settings import ConfigError as ConfigError  # re-exported for callers
from casserver.settings import EVICT_SETTINGS, SETTINGS, VERIFY_SETTINGS
from casserver.settings import SERVERS as SERVERS
from casserver.settings import TASK_IMPLS as TASK_IMPLS

GIB: Final = 1 << 30
MIB: Final = 1 << 20
KIB: Final = 1 << 10


@dataclass(frozen=True, slots=True)
class Config:
    """Config holds every casserver setting; defaults suit one process on a laptop."""

    host: str = "0.0.0.0"
    port: int = 5000
    storage_dir: Path = Path("./cas-data")
    max_blob_bytes: int = GIB
    # Action results (Bazel's /ac/) are small protobufs; a bound keeps a writer honest.
    max_ac_bytes: int = MIB
    # Uploads are refused with 507 when they would leave less than this free on the volume.
    min_free_bytes: int = 0
    # Budget for blobs and action results (bytes, "10GiB" or "85%" of the volume); past it
    # the least recently used go (see budget, evictor). None: nothing is ever removed.
    max_bytes: str | None = None
    # Nothing uploaded, read or re-uploaded this recently is evicted.
    evict_grace_s: float = 600.0
    # An upload that sends nothing for this long is dropped, so stalled clients cannot
    # hold every worker thread.
    body_timeout_s: float = 60.0
    # An upload whose average rate stays below this after body_grace_s is cut (408).
    body_min_rate_bps: int = 4 * KIB
    body_grace_s: float = 10.0
    # Uploads in progress per worker process; past it, 503 with Retry-After.
    max_uploads: int = 32
    # Granian: the longest wait for a request's headers once its first byte is in, which
    # is also how long an idle keep-alive connection is kept (hyper has one timer for
    # both, at most 60 s). The most granian allows, so that proxies keeping idle upstream
    # connections 60 s (nginx, ingress-nginx) rarely reuse one it has just closed.
    header_timeout_s: float = HEADER_TIMEOUT_RANGE_S[1]
    # Gunicorn's keep-alive idle time: longer than proxies keep idle upstream connections.
    keepalive_s: float = 75.0
    # Granian: connections one worker holds open at once (idle ones included).
    max_connections: int = 10_000
    server: str = "granian"
    workers: int = 2
    threads: int = 8
    access_log: bool = False
    log_level: str = "INFO"
    # Set by the main process so every worker's metrics land in one place.
    metrics_dir: Path | None = None
    # None: /metrics on the client port. Set: /metrics only here (served by the main
    # process, every worker's samples summed), so a NetworkPolicy can keep clients off it.
    metrics_port: int | None = None
    # Bearer tokens: None leaves writes (reads) open. Kept out of repr so they are never logged.
    write_token: str | None = field(default=None, repr=False)
    read_token: str | None = field(default=None, repr=False)
    # Granian: small blobs each worker keeps in memory for GETs (bytes in all; 0: none),
    # and the largest blob kept. Sized so that CAS_WORKERS=2 fit the Kubernetes limit.
    memory_cache_bytes: int = 32 * MIB
    memory_cache_item_bytes: int = 256 * KIB
    # Granian: how a request's coroutine runs. "rust" steps it from granian itself, without
    # an asyncio Task per request (about 6% more small GETs); granian calls it experimental
    # and uses asyncio on Python 3.12+. "asyncio" is the conservative choice.
    task_impl: str = "rust"

    def __post_init__(self) -> None:
        SETTINGS.check(self)
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ConfigError("CAS_METRICS_PORT must differ from CAS_SERVER_PORT")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], args: argparse.Namespace | None = None) -> Config:
        """Return the Config environ and the flags in args (they win) give; unset: defaults."""
        return SETTINGS.load(cls, environ, args)


@dataclass(frozen=True, slots=True)
class VerifyConfig:
    """The settings of ``casserver verify``: which store, and how fast to read it."""

    storage_dir: Path = Path("./cas-data")
    # Beside running servers: about a third of a disk's sequential reads.
    rate_mbps: float = 100.0
    offline: bool = False  # no server uses the store: read at full speed

    def __post_init__(self) -> None:
        VERIFY_SETTINGS.check(self)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], args: argparse.Namespace | None = None
    ) -> VerifyConfig:
        """Return the VerifyConfig environ and the flags in args (they win) give."""
        return VERIFY_SETTINGS.load(cls, environ, args)


@dataclass(frozen=True, slots=True)
class EvictConfig:
    """The settings of ``casserver evict``: which store, and its budget."""

    storage_dir: Path = Path("./cas-data")
    max_bytes: str | None = None
    evict_grace_s: float = 600.0

    def __post_init__(self) -> None:
        EVICT_SETTINGS.check(self)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], args: argparse.Namespace | None = None
    ) -> EvictConfig:
        """Return the EvictConfig environ and the flags in args (they win) give."""
        return EVICT_SETTINGS.load(cls, environ, args)


def check_store(root: Path) -> None:
    """Raise ConfigError unless root is an existing store (what verify and evict work on)."""
    if not (root / "sha256").is_dir():
        raise ConfigError(
            f"unusable storage path {root}: no sha256/ directory: not a casserver store"
        )


# Settings of a subcommand of their own, listed after the server's in docs/configuration.md.
MORE_SETTINGS: Final = ((VERIFY_SETTINGS, VerifyConfig()), (EVICT_SETTINGS, EvictConfig()))
