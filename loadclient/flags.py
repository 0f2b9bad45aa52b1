"""The `loadclient` command line's flags, and the Config they make (flags override the env)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cascommon.envconfig import read_secret
from loadclient.blobs import parse_size
from loadclient.capacity_flags import add_capacity_parser, add_compare_parser, add_stages_flag
from loadclient.config import Config, ConfigError, parse_shard
from loadclient.durations import parse_duration_ns, parse_rate
from loadclient.exits import __doc__ as EXITS
from loadclient.stages import parse_stages
from loadclient.thresholds import Schedule, Thresholds
from loadclient.timer import TIMERS
from loadclient.workload import Distribution


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="loadclient",
        description="Upload a blob to casserver, then GET it from the cache at a constant rate.",
        epilog=EXITS.split("\n", 1)[1] if EXITS else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = argparse.ArgumentParser(add_help=False)  # run's options, shared with capacity
    a = r.add_argument
    a("--cas", metavar="URL", help="casserver base URL (env CAS_SERVER_ADDR=host:port)")
    a("--cache", metavar="URL", help="cacheserver base URL (env CACHE_SERVER_ADDR=host:port)")
    token = r.add_mutually_exclusive_group()
    token.add_argument(
        "--token",
        metavar="TOKEN",
        help="casserver's write token, sent as 'Authorization: Bearer' on the uploads only "
        "(env CAS_WRITE_TOKEN; prefer it or --token-file: a flag shows in ps)",
    )
    token.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="read the write token from this file, e.g. a mounted Secret "
        "(env CAS_WRITE_TOKEN_FILE)",
    )
    blob = r.add_mutually_exclusive_group()
    blob.add_argument(
        "--size",
        metavar="BYTES",
        help="random blob size, e.g. 25000, 1k, 4m, or a range "
        "1k..1m (each blob's size log-uniform in it); env CONTENT_SIZE (25000)",
    )
    blob.add_argument("--file", type=Path, metavar="PATH", help="upload this file instead")
    a(
        "--rate",
        metavar="N[/1s]",
        help="requests per period, e.g. 100/1s; env ATTACK_FREQ "
        "(per second); 0 = as fast as possible over --connections (closed model, like wrk)",
    )
    a("--duration", metavar="DUR", help="the sending window, e.g. 10s: what is due and unsent "
      "when it ends is dropped, not sent late (env ATTACK_DURATION seconds)")  # fmt: skip
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
    a(
        "--max-connections",
        type=int,
        metavar="N",
        help="most connections open at once per "
        "process (10000), lowered to fit the descriptor limit (ulimit -n, raised to its hard "
        "limit first)",
    )
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
    w = r.add_argument_group("workload and sharding")
    w.add_argument(
        "--keys",
        type=int,
        metavar="N",
        help="upload N distinct blobs (in parallel) "
        "and GET them by --distribution instead of one hot blob (0)",
    )
    w.add_argument(
        "--distribution",
        metavar="D",
        help="popularity of --keys: uniform or "
        "zipf[:S] (Zipf, exponent S, default 1.0; key 0 the most popular) (uniform)",
    )
    w.add_argument(
        "--shard",
        metavar="I/N",
        help="send part I (0-based) of N of the schedule; "
        "--rate is the whole schedule's; needs --seed (env LOADCLIENT_SHARD) (0/1)",
    )
    w.add_argument(
        "--start-at",
        metavar="TIME",
        help="start the schedule at this RFC 3339 "
        "wall-clock time, e.g. 2026-12-01T10:00:00Z (env LOADCLIENT_START_AT)",
    )
    m = sub.add_parser(
        "merge",
        help="merge JSON reports of several generators into one (JSON on stdout)",
        description="Merge `loadclient run` JSON reports (e.g. one per --shard) exactly: counts "
        "add, histograms add bucket by bucket. The merged report goes to stdout, its text "
        "report to stderr; the exit code is the worst of the inputs' verdicts.",
    )
    m.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    m.add_argument("--quiet", action="store_true", help="no text report on stderr")
    live = r.add_argument_group("live metrics (Prometheus)")
    live.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="serve Prometheus text at "
        "/metrics here while the run lasts, for all --workers (e.g. 0.0.0.0:9464)",
    )
    live.add_argument(
        "--metrics-linger",
        metavar="DUR",
        help="keep serving it this long after the run, so the last scrape sees the end (30s)",
    )
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
    run = sub.add_parser(
        "run",
        parents=[r],
        help="upload, attack, report (JSON on stdout)",
        description="Upload a blob (multipart PUT /cas/{sha256}), then GET it from the cache "
        "at a constant rate; the Vegeta-style JSON report goes to stdout, the text report to "
        "stderr. Flags override the environment.",
        epilog=p.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stages_flag(run)
    add_capacity_parser(sub, r)
    add_compare_parser(sub)
    return p  # fmt: skip


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Build_config is Config.from_env(environ) overridden by every flag given."""
    c = Config.from_env(environ)
    flags: dict[str, Any] = {
        "cas_url": args.cas and args.cas.rstrip("/"),
        "cache_url": args.cache and args.cache.rstrip("/"),
        "size_bytes": None if args.size is None else parse_size(args.size)[0],
        "size_max_bytes": None if args.size is None else parse_size(args.size)[1],
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
        "keys": args.keys,
        "distribution": args.distribution and str(Distribution.parse(args.distribution)),
        "start_at": args.start_at,
        "metrics_addr": args.metrics_addr,
        "metrics_linger_ns": _dur(args.metrics_linger),
        "token": args.token
        if args.token_file is None
        else read_secret("--token-file", args.token_file),
    }
    if args.shard is not None:
        flags["shard"], flags["shards"] = parse_shard(args.shard)
    if args.histogram_buckets:
        flags["histogram_buckets_ns"] = tuple(
            parse_duration_ns(b) for b in args.histogram_buckets.split(",") if b.strip()
        )
    if getattr(args, "stages", None):  # --stages (run only)
        if args.rate is not None or args.duration is not None:
            raise ConfigError("--stages replaces --rate and --duration: give one or the other")
        flags["stages"] = parse_stages(args.stages)
        flags["duration_ns"] = sum(s.duration_ns for s in flags["stages"])
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
