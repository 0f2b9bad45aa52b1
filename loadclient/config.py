"""Configuration: a frozen dataclass; the Go client's environment variables are the fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cascommon.envconfig import ConfigError as EnvConfigError
from cascommon.envconfig import check_token, secret
from loadclient.durations import NS_PER_S, Rate, parse_rate, parse_seconds_ns
from loadclient.stages import Stage
from loadclient.thresholds import Schedule, Thresholds
from loadclient.timer import PRECISE, TIMERS


class ConfigError(ValueError):
    """ConfigError is a setting that cannot work (bad value or missing address)."""


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
    # --metrics-addr HOST:PORT: live Prometheus text; served --metrics-linger after the run
    metrics_addr: str | None = None
    metrics_linger_ns: int = 30 * NS_PER_S
    # Sent as `Authorization: Bearer` on the uploads only (the GETs go to the cache tier,
    # which checks no client token). Kept out of repr and the report so it is never shown.
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """From_env reads the Go client's variables: CAS_SERVER_ADDR, CACHE_SERVER_ADDR (host:port),
        CONTENT_SIZE, ATTACK_FREQ (per second), ATTACK_DURATION (seconds), HIT_MISS_RATIO;
        and LOADCLIENT_SHARD (I/N), LOADCLIENT_START_AT (RFC 3339) for Kubernetes' Indexed Job;
        CAS_WRITE_TOKEN or CAS_WRITE_TOKEN_FILE (a mounted Secret) for the uploads."""
        values: dict[str, object] = {}
        try:
            values["token"] = secret(environ, "CAS_WRITE_TOKEN")
            if v := environ.get("CAS_SERVER_ADDR"):
                values["cas_url"] = addr_to_url(v)
            if v := environ.get("CACHE_SERVER_ADDR"):
                values["cache_url"] = addr_to_url(v)
            if v := environ.get("CONTENT_SIZE"):
                values["size_bytes"] = int(v)
            if v := environ.get("ATTACK_FREQ"):
                values["rate"] = parse_rate(v)
            if v := environ.get("ATTACK_DURATION"):
                values["duration_ns"] = parse_seconds_ns(v)
            if v := environ.get("HIT_MISS_RATIO"):
                values["hit_ratio"] = float(v)
            if v := environ.get("LOADCLIENT_SHARD"):
                values["shard"], values["shards"] = parse_shard(v)
            if v := environ.get("LOADCLIENT_START_AT"):
                values["start_at"] = v
        except ValueError as exc:
            raise ConfigError(f"bad environment variable: {exc}") from None
        return cls(**values)  # type: ignore[arg-type]

    def validate(self) -> Config:
        """Validate raises ConfigError for settings that cannot work, else returns self."""
        if not self.cache_url:
            raise ConfigError("no cache address: pass --cache URL or set CACHE_SERVER_ADDR")
        if not self.cas_url and not self.skip_upload:
            raise ConfigError(
                "no CAS address: pass --cas URL, set CAS_SERVER_ADDR or --skip-upload"
            )
        if not 0.0 <= self.hit_ratio <= 1.0:
            raise ConfigError(f"hit ratio must be within 0..1, got {self.hit_ratio}")
        if self.size_bytes <= 0 and self.file is None:
            raise ConfigError(f"size must be positive, got {self.size_bytes}")
        if self.duration_ns <= 0:
            raise ConfigError("duration must be positive")
        self._validate_limits()
        if self.workers < 1 or self.connections < 1 or self.max_connections < self.connections:
            raise ConfigError("need workers >= 1 and 1 <= connections <= max-connections")
        if self.timer not in TIMERS:
            raise ConfigError(f"timer must be one of {', '.join(TIMERS)}, got {self.timer!r}")
        if self.skip_upload and self.file is None:
            raise ConfigError("--skip-upload needs --file (the blob the server already has)")
        if self.skip_upload and self.hit_ratio < 1.0:
            raise ConfigError("--hit-ratio below 1 needs uploads (drop --skip-upload)")
        self._validate_workload()
        if self.token is not None:
            try:
                check_token("--token", self.token)
            except EnvConfigError as exc:
                raise ConfigError(str(exc)) from None
        return self

    def _validate_workload(self) -> None:
        if self.keys < 0:
            raise ConfigError(f"--keys must be >= 0, got {self.keys}")
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
        if self.timeout_ns <= 0:
            raise ConfigError("timeout must be positive")
        if self.rate.freq == 0 and not self.stages and self.hit_ratio < 1.0:
            # Misses need fresh blobs uploaded before the start, one per miss: a closed model
            # has no request count to size them by.
            raise ConfigError("--hit-ratio below 1 needs a fixed --rate (not 0)")
        for name, ratio in (
            ("max-error-rate", self.thresholds.max_error_rate),
            ("min-rate-ratio", self.schedule.min_rate_ratio),
        ):
            if ratio is not None and not 0.0 <= ratio <= 1.0:
                raise ConfigError(f"{name} must be within 0..1, got {ratio}")
        throughput = self.thresholds.min_throughput
        if throughput is not None and not 0.0 <= throughput < float("inf"):
            raise ConfigError(f"min-throughput must be a finite number >= 0, got {throughput}")


def parse_shard(text: str) -> tuple[int, int]:
    """Parse_shard reads `I/N` (0-based I of N shards)."""
    index, sep, count = text.strip().partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or int(count) < 1:
        raise ValueError(f"shard must be I/N, e.g. 0/3, got {text!r}")
    return int(index), int(count)


def addr_to_url(addr: str) -> str:
    """Addr_to_url turns the Go client's host:port into a base URL (a URL passes through)."""
    addr = addr.strip().rstrip("/")
    return addr if "://" in addr else f"http://{addr}"
