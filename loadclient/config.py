"""Configuration: a frozen dataclass; the Go client's environment variables are the fallback."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cascommon.kinds import parse_address as addr_to_url  # noqa: F401 - the Go client's host:port
from cascommon.settings import ConfigError as ConfigError  # re-exported for callers
from loadclient.capacity import CapacitySettings
from loadclient.durations import NS_PER_S, Rate
from loadclient.settings import CAPACITY_SETTINGS, SETTINGS
from loadclient.settings import parse_shard as parse_shard
from loadclient.stages import Stage
from loadclient.thresholds import Schedule, Thresholds
from loadclient.timer import PRECISE


@dataclass(frozen=True)
class Config:
    """Config is one `loadclient run`: where, what blob, how fast, how long, and the limits."""

    cas_url: str | None = None
    cache_url: str | None = None
    size_bytes: int = 25_000
    size_max_bytes: int = 0  # --size low..high: sizes log-uniform up to this (0: all size_bytes)
    file: Path | None = None
    rate: Rate = Rate(100)
    duration_ns: int = 10 * NS_PER_S
    hit_ratio: float = 1.0
    timeout_ns: int = 30 * NS_PER_S
    connections: int = 16
    max_connections: int = 10_000
    workers: int = 1
    timer: str = PRECISE
    skip_upload: bool = False
    seed: str | None = None
    output: Path | None = None
    html: Path | None = None
    histogram_buckets_ns: tuple[int, ...] | None = None
    quiet: bool = False
    keys: int = 0  # --keys N: upload N blobs and GET them by --distribution (0: one hot blob)
    distribution: str = "uniform"
    shard: int = 0  # --shard I/N: this generator sends part I of N of the schedule
    shards: int = 1
    start_at: str | None = None  # RFC 3339 wall-clock start shared by every shard
    thresholds: Thresholds = field(default_factory=Thresholds)
    schedule: Schedule = field(default_factory=Schedule)
    # --stages: linear ramps (from 0) that replace rate and duration (duration_ns is their sum)
    stages: tuple[Stage, ...] = ()
    # --metrics-addr HOST:PORT: live Prometheus text; served metrics_linger_ns after the run
    metrics_addr: str | None = None
    metrics_linger_ns: int = 30 * NS_PER_S
    # Sent as `Authorization: Bearer` on the uploads only (the GETs go to the cache tier,
    # which checks no client token). Kept out of repr and the report so it is never shown.
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], args: argparse.Namespace | None = None) -> Config:
        """Return the Config environ and the flags in args (they win) give; unset: defaults.

        The variables are the Go client's: CAS_SERVER_ADDR, CACHE_SERVER_ADDR (host:port),
        CONTENT_SIZE, ATTACK_FREQ (per second), ATTACK_DURATION (seconds), HIT_MISS_RATIO;
        LOADCLIENT_SHARD (I/N), LOADCLIENT_START_AT (RFC 3339) for Kubernetes' Indexed Job;
        CAS_WRITE_TOKEN or CAS_WRITE_TOKEN_FILE (a mounted Secret) for the uploads.
        """
        return SETTINGS.load(cls, environ, args)

    def validate(self) -> Config:
        """Return self, or raise ConfigError for settings that cannot work together."""
        SETTINGS.check(self)
        if not self.cache_url:
            raise ConfigError("no cache address: pass --cache URL or set CACHE_SERVER_ADDR")
        if not self.cas_url and not self.skip_upload:
            raise ConfigError(
                "no CAS address: pass --cas URL, set CAS_SERVER_ADDR or --skip-upload"
            )
        if self.size_bytes <= 0 and self.file is None:
            raise ConfigError(f"size must be positive, got {self.size_bytes}")
        self._validate_limits()
        if self.max_connections < self.connections:
            raise ConfigError("--max-connections must be at least --connections")
        if self.skip_upload and self.file is None:
            raise ConfigError("--skip-upload needs --file (the blob the server already has)")
        if self.skip_upload and self.hit_ratio < 1.0:
            raise ConfigError("--hit-ratio below 1 needs uploads (drop --skip-upload)")
        self._validate_workload()
        return self

    def _validate_workload(self) -> None:
        if self.keys and (self.skip_upload or self.file is not None or self.hit_ratio < 1.0):
            raise ConfigError(
                "--keys uploads its own blobs: no --file, --skip-upload or --hit-ratio"
            )
        if not 0 <= self.shard < self.shards:
            raise ConfigError(
                f"--shard must be I/N with 0 <= I < N, got {self.shard}/{self.shards}"
            )
        if self.shards > 1 and self.rate.freq == 0 and not self.stages:
            raise ConfigError(
                "--shard needs a fixed --rate: a closed model has no schedule to split"
            )
        if self.shards > 1 and not self.seed:
            # Every shard must make the same blobs (keys, misses) from the same seed.
            raise ConfigError("--shard needs --seed, the same on every shard")

    def _validate_limits(self) -> None:
        if self.rate.freq == 0 and not self.stages and self.hit_ratio < 1.0:
            # Misses need fresh blobs uploaded before the start, one per miss: a closed model
            # has no request count to size them by.
            raise ConfigError("--hit-ratio below 1 needs a fixed --rate (not 0)")


# Settings of a subcommand of their own, listed after run's in docs/configuration.md.
MORE_SETTINGS: Final = ((CAPACITY_SETTINGS, CapacitySettings()),)
