"""Command line: `loadclient run` uploads, attacks, reports, and maps the verdict to an exit code.

Exit codes:
  0  the run completed, every threshold passed and the generator kept to its schedule
  1  a threshold (--max-error-rate, --max-p99, ...) failed
  2  usage or configuration error
  3  the run could not happen: upload failed, casserver unreachable, unreadable --file
  4  the generator fell behind (send lag or achieved rate): the results cannot be trusted
     (takes precedence over 1, since thresholds were judged on a load that was not offered)
  130 interrupted (Ctrl-C): the report covers what was sent before it (a second Ctrl-C
      stops at once, without one)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from loadclient.config import Config, ConfigError
from loadclient.durations import (
    InvalidDuration,
    format_duration,
    parse_duration_ns,
    parse_rate,
)
from loadclient.html import html_report
from loadclient.plan import Plan
from loadclient.report import build
from loadclient.runner import WorkerFailed, progress_printer, run
from loadclient.targets import Blob, file_blob, misses_in, random_blob
from loadclient.text import DEFAULT_BUCKETS_NS, histogram_report, text_report
from loadclient.thresholds import Schedule, Thresholds, behind, evaluate
from loadclient.timer import TIMERS
from loadclient.upload import UploadError, upload_all

EXIT_OK: Final = 0
EXIT_THRESHOLD: Final = 1
EXIT_USAGE: Final = 2
EXIT_SETUP: Final = 3
EXIT_BEHIND: Final = 4
EXIT_INTERRUPTED: Final = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loadclient",
        description="Upload a blob to casserver, then GET it from the cache at a constant rate.",
        epilog=__doc__.split("\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run",
        help="upload, attack, report (JSON on stdout)",
        description="Upload a blob (multipart PUT /cas/{sha256}), then GET it from the cache "
        "at a constant rate; the Vegeta-style JSON report goes to stdout, the text report to "
        "stderr. Flags override the environment.",
        epilog=p.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a = r.add_argument
    a("--cas", metavar="URL", help="casserver base URL (env CAS_SERVER_ADDR=host:port)")
    a("--cache", metavar="URL", help="cacheserver base URL (env CACHE_SERVER_ADDR=host:port)")
    blob = r.add_mutually_exclusive_group()
    blob.add_argument(
        "--size", type=int, metavar="BYTES", help="random blob size; env CONTENT_SIZE (25000)"
    )
    blob.add_argument("--file", type=Path, metavar="PATH", help="upload this file instead")
    a(
        "--rate",
        metavar="N[/1s]",
        help="requests per period, e.g. 100/1s; env ATTACK_FREQ "
        "(per second); 0 = as fast as possible over --connections (closed model, like wrk)",
    )
    a("--duration", metavar="DUR", help="attack duration, e.g. 10s (env ATTACK_DURATION seconds)")
    a(
        "--hit-ratio",
        type=float,
        help="share of GETs for the uploaded blob; the rest ask for "
        "fresh never-requested blobs (cache misses); env HIT_MISS_RATIO (1.0)",
    )
    a("--timeout", metavar="DUR", help="per-request timeout (30s)")
    a(
        "--connections",
        type=int,
        metavar="N",
        help="keep-alive connections opened before the start (16), each carrying one "
        "uncounted HEAD of the blob first (so a cache may fill it before the attack)",
    )
    a("--max-connections", type=int, metavar="N", help="most connections open at once (10000)")
    a("--workers", type=int, metavar="N", help="attacking processes sharing the schedule (1)")
    a(
        "--timer",
        choices=TIMERS,
        help="how requests are timed: precise (default; a timerfd: sends ~20-80 µs after they "
        "are due, more CPU at high rates) or loop (the event loop's 1 ms timers: ~0.6-0.9 ms "
        "late, which shows in the latencies; the cheaper choice at many thousands/s)",
    )
    a(
        "--skip-upload",
        action="store_true",
        default=None,
        help="the blob (--file) is already stored: attack without uploading",
    )
    a("--seed", help="seed for the random blobs (random by default)")
    a("--output", type=Path, metavar="PATH", help="write the JSON report here, not stdout")
    a("--html", type=Path, metavar="PATH", help="write a self-contained HTML report")
    a(
        "--histogram-buckets",
        metavar="LIST",
        help="histogram report bucket bounds, e.g. 0,1ms,2ms,5ms",
    )
    a("--quiet", action="store_true", default=None, help="no text report or progress on stderr")
    t = r.add_argument_group("thresholds (exit 1 when one fails)")
    t.add_argument("--max-error-rate", type=float, metavar="RATIO", help="e.g. 0.01")
    for name in ("mean", "p50", "p90", "p95", "p99", "p999"):
        t.add_argument(f"--max-{name}", metavar="DUR", help=f"largest {name} latency, e.g. 50ms")
    t.add_argument("--max-latency", metavar="DUR", help="largest single latency")
    t.add_argument("--min-throughput", type=float, metavar="N", help="successful requests/s")
    s = r.add_argument_group("schedule (exit 4 when the generator falls behind)")
    s.add_argument("--max-send-lag", metavar="DUR", help="p99 send lag allowed (20ms)")
    s.add_argument(
        "--min-rate-ratio", type=float, metavar="RATIO", help="achieved/target rate allowed (0.99)"
    )
    return p  # fmt: skip


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Build_config is Config.from_env(environ) overridden by every flag given."""
    c = Config.from_env(environ)
    flags: dict[str, Any] = {
        "cas_url": args.cas and args.cas.rstrip("/"),
        "cache_url": args.cache and args.cache.rstrip("/"),
        "size_bytes": args.size,
        "file": args.file,
        "rate": None if args.rate is None else parse_rate(args.rate),
        "duration_ns": _dur(args.duration),
        "hit_ratio": args.hit_ratio,
        "timeout_ns": _dur(args.timeout),
        "connections": args.connections,
        "max_connections": args.max_connections,
        "workers": args.workers,
        "timer": args.timer,
        "skip_upload": args.skip_upload,
        "seed": args.seed,
        "output": args.output,
        "html": args.html,
        "quiet": args.quiet,
    }
    if args.histogram_buckets:
        flags["histogram_buckets_ns"] = tuple(
            parse_duration_ns(b) for b in args.histogram_buckets.split(",") if b.strip()
        )
    c = replace(c, **{k: v for k, v in flags.items() if v is not None})
    if args.file is not None:
        c = replace(c, size_bytes=0)
    limits = {
        "max_error_rate": args.max_error_rate,
        "min_throughput": args.min_throughput,
        "max_latency_ns": _dur(args.max_latency),
        **{f"max_{n}_ns": _dur(getattr(args, f"max_{n}")) for n in ("mean", "p50", "p90", "p95",
                                                                      "p99", "p999")},
    }  # fmt: skip
    sched: dict[str, Any] = {}
    if args.max_send_lag is not None:
        sched["max_send_lag_p99_ns"] = parse_duration_ns(args.max_send_lag)
    if args.min_rate_ratio is not None:
        sched["min_rate_ratio"] = args.min_rate_ratio
    if c.max_connections < c.connections:
        c = replace(c, max_connections=c.connections)
    return replace(
        c,
        thresholds=Thresholds(**{k: v for k, v in limits.items() if v is not None}),
        schedule=replace(Schedule(), **sched),
    ).validate()


def _dur(text: str | None) -> int | None:
    return None if text is None else parse_duration_ns(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Main runs the command line and returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        config = build_config(args, os.environ)
        target = urlsplit(config.cache_url or "")
        if target.scheme != "http" or not target.hostname:
            raise ConfigError(f"--cache must be an http:// URL, got {config.cache_url!r}")
        for flag, path in (("--output", config.output), ("--html", config.html)):
            # Found out now, not after the run, whose report would then be lost.
            if path is not None and (path.is_dir() or not os.access(path.parent, os.W_OK)):
                raise ConfigError(f"cannot write {flag} {path}")
    except (ConfigError, InvalidDuration, ValueError) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        hot, fresh = _upload(config)
        plan = Plan(
            host=target.hostname, port=target.port or 80, hot=hot.data, hot_digest=hot.digest,
            rate=config.rate, duration_ns=config.duration_ns, timeout_ns=config.timeout_ns,
            connections=config.connections, max_connections=config.max_connections,
            miss_ratio=1.0 - config.hit_ratio, miss_digests=tuple(fresh), timer=config.timer,
        )  # fmt: skip
        show = not config.quiet and sys.stderr.isatty()
        progress = progress_printer(config.duration_ns / 1e9) if show else None
        wall_offset_ns = time.time_ns() - time.monotonic_ns()
        metrics = run(plan, config.workers, progress)
        if progress is not None:
            sys.stderr.write("\n")
    except (UploadError, OSError, WorkerFailed) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("\nloadclient: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    report = build(metrics, wall_offset_ns=wall_offset_ns, target_rate=config.rate.per_second)
    failures, late = evaluate(report, config.thresholds), behind(report, config.schedule)
    report["verdict"] = {"passed": not failures and not late and not metrics.interrupted,
                         "failures": failures, "behind": late,
                         "interrupted": metrics.interrupted}  # fmt: skip
    report["blob"] = {"algorithm": "sha256", "digest": hot.digest, "size": len(hot.data),
                      "fresh_blobs": len(fresh)}  # fmt: skip
    report["config"] = _config_summary(config)
    _emit(report, metrics.latency, metrics.series.rows(), config)
    if metrics.interrupted:
        print("loadclient: interrupted: the report covers a partial run", file=sys.stderr)
        return EXIT_INTERRUPTED
    if late:
        return EXIT_BEHIND
    return EXIT_THRESHOLD if failures else EXIT_OK


def _upload(config: Config) -> tuple[Blob, list[str]]:
    """_upload makes and uploads the hot blob and the fresh (miss) blobs; fresh ones by digest."""
    seed = config.seed or os.urandom(16).hex()
    try:
        hot = file_blob(config.file) if config.file else random_blob(config.size_bytes, seed)
    except OSError as exc:
        raise OSError(f"cannot read --file {config.file}: {exc.strerror or exc}") from exc
    if config.skip_upload:
        return hot, []
    assert config.cas_url is not None
    timeout_s = config.timeout_ns / 1e9
    upload_all(config.cas_url, 1, lambda _: hot, timeout_s)
    total = -(-config.duration_ns * config.rate.freq // config.rate.per_ns)
    n = misses_in(total, 1.0 - config.hit_ratio) if config.rate.freq else 0
    size = len(hot.data)
    return hot, upload_all(config.cas_url, n, lambda i: random_blob(size, seed, i + 1), timeout_s)


def _config_summary(c: Config) -> dict[str, Any]:
    return {
        "cas": c.cas_url, "cache": c.cache_url, "rate": str(c.rate),
        "duration": format_duration(c.duration_ns), "hit_ratio": c.hit_ratio,
        "timeout": format_duration(c.timeout_ns), "connections": c.connections,
        "max_connections": c.max_connections, "workers": c.workers, "timer": c.timer,
        "thresholds": {k: v for k, v in asdict(c.thresholds).items() if v is not None},
        "schedule": asdict(c.schedule),
    }  # fmt: skip


def _emit(report: dict[str, Any], latency: Any, series: Any, config: Config) -> None:
    text = json.dumps(report, indent=2) + "\n"
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
