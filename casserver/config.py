"""Casserver configuration: one frozen dataclass, read from the environment in one place.

This module imports nothing from prometheus_client: the main process reads it
before it has chosen where multiprocess metrics live (see ``lifecycle``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from cascommon.envconfig import ConfigError as ConfigError  # re-exported for callers
from cascommon.envconfig import check_at_least_one, check_log_level, check_port
from casserver.budget import BudgetError, ByteBudget

GIB: Final = 1 << 30
MIB: Final = 1 << 20
KIB: Final = 1 << 10

# Environment variable for each field; __main__ writes flags into the same names.
ENV: Final = {
    "host": "CAS_SERVER_HOST",
    "port": "CAS_SERVER_PORT",
    "storage_dir": "CAS_STORAGE_DIR",
    "max_blob_bytes": "CAS_MAX_BLOB_BYTES",
    "max_ac_bytes": "CAS_MAX_AC_BYTES",
    "min_free_bytes": "CAS_MIN_FREE_BYTES",
    "max_bytes": "CAS_MAX_BYTES",
    "evict_grace_s": "CAS_EVICT_GRACE_S",
    "body_timeout_s": "CAS_BODY_TIMEOUT_S",
    "body_min_rate_bps": "CAS_BODY_MIN_RATE_BPS",
    "body_grace_s": "CAS_BODY_GRACE_S",
    "max_uploads": "CAS_MAX_UPLOADS",
    "header_timeout_s": "CAS_HEADER_TIMEOUT_S",
    "keepalive_s": "CAS_KEEPALIVE_S",
    "max_connections": "CAS_MAX_CONNECTIONS",
    "server": "CAS_SERVER",
    "workers": "CAS_WORKERS",
    "threads": "CAS_THREADS",
    "access_log": "CAS_ACCESS_LOG",
    "log_level": "LOG_LEVEL",
    "metrics_dir": "PROMETHEUS_MULTIPROC_DIR",
    "metrics_port": "CAS_METRICS_PORT",
    "write_token": "CAS_WRITE_TOKEN",
    "read_token": "CAS_READ_TOKEN",
    "memory_cache_bytes": "CAS_MEMORY_CACHE_BYTES",
    "memory_cache_item_bytes": "CAS_MEMORY_CACHE_ITEM_BYTES",
    "task_impl": "CAS_TASK_IMPL",
}
# A token may instead come from a file (a mounted Kubernetes Secret) named by <variable>_FILE.
FILE_SUFFIX: Final = "_FILE"
_SECRETS: Final = ("write_token", "read_token")

_TOKEN: Final = re.compile(r"[!-~]+")
SERVERS: Final = ("granian", "gunicorn")
TASK_IMPLS: Final = ("rust", "asyncio")
_FLOATS: Final = frozenset(
    {"body_timeout_s", "body_grace_s", "header_timeout_s", "keepalive_s", "evict_grace_s"}
)
_INTS: Final = frozenset(
    {"port", "max_blob_bytes", "max_ac_bytes", "min_free_bytes", "workers", "threads"}
    | {"body_min_rate_bps", "max_uploads", "max_connections", "metrics_port"}
    | {"memory_cache_bytes", "memory_cache_item_bytes"}
)
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})


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
    body_min_rate_bps: int = 4096
    body_grace_s: float = 10.0
    # Uploads in progress per worker process; past it, 503 with Retry-After.
    max_uploads: int = 32
    # Granian: the longest wait for a request's headers once its first byte is in, which
    # is also how long an idle keep-alive connection is kept (hyper has one timer for
    # both, at most 60 s). The most granian allows, so that proxies keeping idle upstream
    # connections 60 s (nginx, ingress-nginx) rarely reuse one it has just closed.
    header_timeout_s: float = 60.0
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
        check_port(ENV["port"], self.port)
        if self.metrics_port is not None:
            check_port(ENV["metrics_port"], self.metrics_port)
            if self.metrics_port == self.port:
                raise ConfigError(f"{ENV['metrics_port']} must differ from {ENV['port']}")
        _check_numbers(self)
        for name, allowed in (("server", SERVERS), ("task_impl", TASK_IMPLS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{ENV[name]} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        check_log_level(ENV["log_level"], self.log_level)
        for name in _SECRETS:
            token = getattr(self, name)
            if token is not None and not _TOKEN.fullmatch(token):
                # The message never includes the token itself.
                raise ConfigError(f"{ENV[name]} must be non-empty printable ASCII without spaces")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """From_env builds a Config from environment variables, defaulting what is unset."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV[f.name])
            if raw is None or (raw == "" and f.name != "access_log"):
                continue
            values[f.name] = _convert(f.name, raw.strip())
        for name in _SECRETS:
            path = environ.get(ENV[name] + FILE_SUFFIX, "").strip()
            if path:
                if name in values:
                    raise ConfigError(f"set {ENV[name]} or {ENV[name]}{FILE_SUFFIX}, not both")
                values[name] = _read_secret(ENV[name] + FILE_SUFFIX, Path(path))
        return cls(**values)


def _check_numbers(config: Config) -> None:
    """Check_numbers raises ConfigError for a size, count or time out of its range."""
    for name in (
        "max_blob_bytes", "max_ac_bytes", "workers", "threads", "max_uploads", "max_connections"
    ):  # fmt: skip
        check_at_least_one(ENV[name], getattr(config, name))
    for name in ("body_timeout_s", "keepalive_s"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{ENV[name]} must be positive")
    if not 0.001 <= config.header_timeout_s <= 60:
        raise ConfigError(f"{ENV['header_timeout_s']} must be 0.001-60 seconds (granian's range)")
    if config.max_bytes is not None:
        try:
            ByteBudget.parse(config.max_bytes)
        except BudgetError as exc:
            raise ConfigError(f"{ENV['max_bytes']}: {exc}") from None
    for name in (
        "body_min_rate_bps", "body_grace_s", "min_free_bytes", "evict_grace_s",
        "memory_cache_bytes", "memory_cache_item_bytes",
    ):  # fmt: skip
        if getattr(config, name) < 0:
            raise ConfigError(f"{ENV[name]} must not be negative")


def _read_secret(variable: str, path: Path) -> str:
    try:
        # A Secret written with `echo` ends in a newline that is not part of the token.
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc}") from None


def _convert(name: str, raw: str) -> Any:
    if name in ("storage_dir", "metrics_dir"):
        return Path(raw)
    if name == "log_level":
        return raw.upper()
    if name in ("server", "task_impl"):
        return raw.lower()
    if name == "access_log":
        if raw.lower() not in _TRUE | _FALSE:
            raise ConfigError(f"{ENV[name]} must be a boolean (1/0, true/false), got {raw!r}")
        return raw.lower() in _TRUE
    if name in _FLOATS:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{ENV[name]} must be a number of seconds, got {raw!r}") from None
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV[name]} must be an integer, got {raw!r}") from None
    return raw
