"""Command line: `loadclient run` uploads, attacks, reports, and maps the verdict to an exit code;
`loadclient merge` merges the JSON reports of several generators (--shard) into one.

Exit codes: see loadclient.exits.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from loadclient.blobs import Sizes, UploadProgress, key_index, upload_keys
from loadclient.config import Config, ConfigError
from loadclient.durations import (
    InvalidDuration,
    format_duration,
)
from loadclient.exits import (
    EXIT_INTERRUPTED,
    EXIT_SETUP,
    EXIT_USAGE,
    exit_code,
)
from loadclient.flags import build_config, parser
from loadclient.html import html_report
from loadclient.merge import merge_command
from loadclient.plan import Plan
from loadclient.report import Report, Verdict, dumps, parse_rfc3339_ns
from loadclient.runner import WorkerFailed, progress_printer, run
from loadclient.targets import Blob, file_blob, misses_in
from loadclient.text import DEFAULT_BUCKETS_NS, histogram_report, text_report
from loadclient.thresholds import behind, evaluate
from loadclient.upload import UploadError, upload_all


def main(argv: Sequence[str] | None = None) -> int:
    """Main runs the command line and returns the exit code."""
    args = parser().parse_args(argv)
    if args.command == "merge":
        return merge_command(args.reports, quiet=args.quiet)
    try:
        config = build_config(args, os.environ)
        target = urlsplit(config.cache_url or "")
        if target.scheme != "http" or not target.hostname:
            raise ConfigError(f"--cache must be an http:// URL, got {config.cache_url!r}")
        for flag, path in (("--output", config.output), ("--html", config.html)):
            # Found out now, not after the run, whose report would then be lost.
            if path is not None and (path.is_dir() or not os.access(path.parent, os.W_OK)):
                raise ConfigError(f"cannot write {flag} {path}")
        start_at_ns = parse_rfc3339_ns(config.start_at) if config.start_at else None
    except (ConfigError, InvalidDuration, ValueError) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        hot, fresh, keys = _upload(config)
        plan = Plan(
            host=target.hostname, port=target.port or 80, hot=hot.data, hot_digest=hot.digest,
            rate=config.rate, duration_ns=config.duration_ns, timeout_ns=config.timeout_ns,
            connections=config.connections, max_connections=config.max_connections,
            miss_ratio=1.0 - config.hit_ratio, miss_digests=tuple(fresh), timer=config.timer,
            key_digests=tuple(keys), distribution=config.distribution, seed=config.seed or "",
            shard=config.shard, shards=config.shards,
        )  # fmt: skip
        show = not config.quiet and sys.stderr.isatty()
        progress = progress_printer(config.duration_ns / 1e9) if show else None
        wall_offset_ns = time.time_ns() - time.monotonic_ns()
        start_ns = None if start_at_ns is None else _monotonic_start(start_at_ns, wall_offset_ns)
        metrics = run(plan, config.workers, progress, start_ns)
        if progress is not None:
            sys.stderr.write("\n")
    except (UploadError, OSError, WorkerFailed) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("\nloadclient: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    blob = {"algorithm": "sha256", "digest": hot.digest, "size": len(hot.data),
            "fresh_blobs": len(fresh)}  # fmt: skip
    workload = {"keys": len(keys), "distribution": config.distribution} if keys else None
    about = {"blob": blob, "config": _config_summary(config), "workload": workload}
    report = Report(metrics, wall_offset_ns, config.rate.per_second / config.shards, None,
                    {k: v for k, v in about.items() if v is not None})  # fmt: skip
    report.verdict = verdict = Verdict(
        evaluate(report, config.thresholds), behind(report, config.schedule), metrics.interrupted
    )
    _emit(report.to_json(), metrics.latency, metrics.series.rows(), config)
    if verdict.interrupted:
        print("loadclient: interrupted: the report covers a partial run", file=sys.stderr)
    return exit_code(verdict)


def _monotonic_start(start_at_ns: int, wall_offset_ns: int) -> int:
    start_ns = start_at_ns - wall_offset_ns
    late_s = (time.monotonic_ns() - start_ns) / 1e9
    if late_s > 0:
        # Requests due before now go out at once (latency counts from their due time);
        # those past the window are dropped: the report shows it, so go on.
        print(f"loadclient: --start-at passed {late_s:.3f}s ago", file=sys.stderr)
    return start_ns


def _upload(config: Config) -> tuple[Blob, list[str], list[str]]:
    """_upload makes and uploads the blobs: the hot one, the fresh (miss) ones and the keys."""
    seed = config.seed or os.urandom(16).hex()
    sizes = Sizes(config.size_bytes, max(config.size_bytes, config.size_max_bytes), seed)
    timeout_s = config.timeout_ns / 1e9
    if config.keys:
        assert config.cas_url is not None
        show = not config.quiet
        keys = upload_keys(config.cas_url, config.keys, sizes, timeout_s, 16, show, config.token)
        return sizes.blob(key_index(0)), [], keys
    try:
        hot = file_blob(config.file) if config.file else sizes.blob(0)
    except OSError as exc:
        raise OSError(f"cannot read --file {config.file}: {exc.strerror or exc}") from exc
    if config.skip_upload:
        return hot, [], []
    assert config.cas_url is not None
    upload_all(config.cas_url, 1, lambda _: hot, timeout_s, token=config.token)
    total = -(-config.duration_ns * config.rate.freq // config.rate.per_ns)
    n = misses_in(total, 1.0 - config.hit_ratio) if config.rate.freq else 0
    if config.file:
        sizes = Sizes(len(hot.data), len(hot.data), seed)
    progress = UploadProgress(n) if n and not config.quiet else None
    fresh = upload_all(
        config.cas_url, n, lambda i: sizes.blob(i + 1), timeout_s, done=progress, token=config.token
    )
    return hot, fresh, []


def _config_summary(c: Config) -> dict[str, Any]:
    return {
        "cas": c.cas_url, "cache": c.cache_url, "rate": str(c.rate),
        "duration": format_duration(c.duration_ns), "hit_ratio": c.hit_ratio,
        "timeout": format_duration(c.timeout_ns), "connections": c.connections,
        "max_connections": c.max_connections, "workers": c.workers, "timer": c.timer,
        "shard": f"{c.shard}/{c.shards}", "start_at": c.start_at,
        "thresholds": {k: v for k, v in asdict(c.thresholds).items() if v is not None},
        "schedule": asdict(c.schedule),
    }  # fmt: skip


def _emit(report: dict[str, Any], latency: Any, series: Any, config: Config) -> None:
    text = dumps(report)
    if config.output:
        config.output.write_text(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if config.html:
        config.html.write_text(html_report(report, latency, series))
    if not config.quiet:
        sys.stderr.write(text_report(report) + "\n")
        sys.stderr.write(
            histogram_report(latency, config.histogram_buckets_ns or DEFAULT_BUCKETS_NS)
        )
