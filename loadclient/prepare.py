"""What every attacking command does before its first request: check the target, upload the
blobs, and make the Plan; shared by `run` and `capacity`."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from loadclient.blobs import Sizes, UploadProgress, key_index, upload_keys
from loadclient.config import Config, ConfigError
from loadclient.durations import format_duration
from loadclient.pacer import ConstantPacer
from loadclient.plan import Plan
from loadclient.report import parse_rfc3339_ns
from loadclient.stages import StagedPacer, format_stages
from loadclient.targets import Blob, file_blob, misses_in
from loadclient.upload import upload_all


@dataclass(frozen=True, slots=True)
class Target:
    """Target is the checked cache address and the shared start time (Unix ns) if any."""

    host: str
    port: int
    start_at_ns: int | None


def check(config: Config) -> Target:
    """Check raises ConfigError (or ValueError) for what would fail only after the run."""
    target = urlsplit(config.cache_url or "")
    if target.scheme != "http" or not target.hostname:
        raise ConfigError(f"--cache must be an http:// URL, got {config.cache_url!r}")
    for flag, path in (("--output", config.output), ("--html", config.html)):
        # Found out now, not after the run, whose report would then be lost.
        if path is not None and (path.is_dir() or not os.access(path.parent, os.W_OK)):
            raise ConfigError(f"cannot write {flag} {path}")
    start_at_ns = parse_rfc3339_ns(config.start_at) if config.start_at else None
    return Target(target.hostname, target.port or 80, start_at_ns)


def pacer(config: Config) -> ConstantPacer | StagedPacer:
    """Pacer is the whole schedule's pacer (every shard's hits): stages or a constant rate."""
    if config.stages:
        return StagedPacer(config.stages)
    return ConstantPacer(config.rate, config.duration_ns)


def target_rate(config: Config) -> float:
    """Target_rate is this generator's mean offered rate (per second) over the schedule."""
    if config.stages:
        return pacer(config).total_hits() / (config.duration_ns / 1e9) / config.shards
    return config.rate.per_second / config.shards


@dataclass(frozen=True, slots=True)
class Uploaded:
    """Uploaded is the blobs an attack asks for: the hot one, the fresh (miss) ones, the keys."""

    hot: Blob
    fresh: tuple[str, ...]
    keys: tuple[str, ...]


def upload(config: Config) -> Uploaded:
    """Upload makes and uploads the blobs: the hot one, the fresh (miss) ones and the keys."""
    seed = config.seed or os.urandom(16).hex()
    sizes = Sizes(config.size_bytes, max(config.size_bytes, config.size_max_bytes), seed)
    timeout_s = config.timeout_ns / 1e9
    if config.keys:
        assert config.cas_url is not None
        show = not config.quiet
        keys = upload_keys(config.cas_url, config.keys, sizes, timeout_s, 16, show, config.token)
        return Uploaded(sizes.blob(key_index(0)), (), tuple(keys))
    try:
        hot = file_blob(config.file) if config.file else sizes.blob(0)
    except OSError as exc:
        raise OSError(f"cannot read --file {config.file}: {exc.strerror or exc}") from exc
    if config.skip_upload:
        return Uploaded(hot, (), ())
    assert config.cas_url is not None
    upload_all(config.cas_url, 1, lambda _: hot, timeout_s, token=config.token)
    total = pacer(config).total_hits() if config.stages or config.rate.freq else 0
    n = misses_in(total, 1.0 - config.hit_ratio) if total else 0
    if config.file:
        sizes = Sizes(len(hot.data), len(hot.data), seed)
    progress = UploadProgress(n) if n and not config.quiet else None
    fresh = upload_all(
        config.cas_url, n, lambda i: sizes.blob(i + 1), timeout_s, done=progress, token=config.token
    )
    return Uploaded(hot, tuple(fresh), ())


def make_plan(config: Config, target: Target, blobs: Uploaded) -> Plan:
    """Make_plan is the Plan of one attack of config on target with the uploaded blobs."""
    return Plan(
        host=target.host, port=target.port, hot=blobs.hot.data, hot_digest=blobs.hot.digest,
        rate=config.rate, duration_ns=config.duration_ns, timeout_ns=config.timeout_ns,
        connections=config.connections, max_connections=config.max_connections,
        miss_ratio=1.0 - config.hit_ratio, miss_digests=blobs.fresh, timer=config.timer,
        key_digests=blobs.keys, distribution=config.distribution, seed=config.seed or "",
        shard=config.shard, shards=config.shards, stages=config.stages,
    )  # fmt: skip


def monotonic_start(start_at_ns: int, wall_offset_ns: int) -> int:
    """Monotonic_start is the monotonic time of a Unix start time; it warns when that passed."""
    start_ns = start_at_ns - wall_offset_ns
    late_s = (time.monotonic_ns() - start_ns) / 1e9
    if late_s > 0:
        # Requests due before now go out at once (latency counts from their due time);
        # those past the window are dropped: the report shows it, so go on.
        print(f"loadclient: --start-at passed {late_s:.3f}s ago", file=sys.stderr)
    return start_ns


def about(config: Config, blobs: Uploaded) -> dict[str, Any]:
    """About is the report's blob, config and workload objects."""
    blob = {"algorithm": "sha256", "digest": blobs.hot.digest, "size": len(blobs.hot.data),
            "fresh_blobs": len(blobs.fresh)}  # fmt: skip
    out: dict[str, Any] = {"blob": blob, "config": config_summary(config)}
    if blobs.keys:
        out["workload"] = {"keys": len(blobs.keys), "distribution": config.distribution}
    return out


def config_summary(c: Config) -> dict[str, Any]:
    """Config_summary is the report's `config` object (never the token)."""
    out = {
        "cas": c.cas_url, "cache": c.cache_url, "rate": str(c.rate),
        "duration": format_duration(c.duration_ns), "hit_ratio": c.hit_ratio,
        "timeout": format_duration(c.timeout_ns), "connections": c.connections,
        "max_connections": c.max_connections, "workers": c.workers, "timer": c.timer,
        "shard": f"{c.shard}/{c.shards}", "start_at": c.start_at,
        "thresholds": {k: v for k, v in asdict(c.thresholds).items() if v is not None},
        "schedule": asdict(c.schedule),
    }  # fmt: skip
    if c.stages:
        out["stages"] = format_stages(c.stages)
    return out
