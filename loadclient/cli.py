"""Command line: `loadclient run` uploads, attacks, reports, and maps the verdict to an exit code;
`loadclient merge` merges the JSON reports of several generators (--shard) into one;
`loadclient capacity` searches for the highest rate that meets objectives (capacity.py);
`loadclient compare` shows two reports side by side (compare.py).

Exit codes: see loadclient.exits.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from loadclient import prepare
from loadclient.capacity_command import capacity_command
from loadclient.capacity_merge import merge_any
from loadclient.compare import compare_command
from loadclient.config import Config, ConfigError
from loadclient.durations import InvalidDuration
from loadclient.exits import (
    EXIT_INTERRUPTED,
    EXIT_SETUP,
    EXIT_USAGE,
    exit_code,
)
from loadclient.flags import build_config, parser
from loadclient.html import html_report
from loadclient.live import Board, Live
from loadclient.report import Report, Verdict, write_json
from loadclient.runner import WorkerFailed, progress_printer, run
from loadclient.stagereport import stage_blocks, with_rates
from loadclient.stages import StagedPacer
from loadclient.text import DEFAULT_BUCKETS_NS, histogram_report, text_report
from loadclient.thresholds import behind, evaluate
from loadclient.upload import UploadError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = parser().parse_args(argv)
    if args.command == "merge":
        return merge_any(args.reports, quiet=args.quiet)
    if args.command == "compare":
        return compare_command(args)
    try:
        config = build_config(args, os.environ)
        target = prepare.check(config)
        live = Live(config.metrics_addr, config.metrics_linger_ns)
    except (ConfigError, InvalidDuration, ValueError, OSError) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "capacity":
            return capacity_command(args, config, target, live.board)
        return _run(config, target, live.board)
    finally:
        live.close()


def _run(config: Config, target: prepare.Target, board: Board | None) -> int:
    try:
        blobs = prepare.upload(config)
        plan = prepare.make_plan(config, target, blobs)
        show = not config.quiet and sys.stderr.isatty()
        progress = progress_printer(config.duration_ns / 1e9) if show else None
        wall_offset_ns = time.time_ns() - time.monotonic_ns()
        start_ns = (
            None
            if target.start_at_ns is None
            else prepare.monotonic_start(target.start_at_ns, wall_offset_ns)
        )
        metrics = run(plan, config.workers, progress, start_ns, board)
        if progress is not None:
            sys.stderr.write("\n")
    except (UploadError, OSError, WorkerFailed) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("\nloadclient: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    about = prepare.about(config, blobs)
    pacer = prepare.pacer(config)
    if isinstance(pacer, StagedPacer):
        names = [str(s) for s in config.stages]
        about["stages"] = stage_blocks(
            pacer.stage_spans(), names, metrics.series, pacer, config.shards
        )
    report = Report(metrics, wall_offset_ns, prepare.target_rate(config), None, about)
    report.verdict = verdict = Verdict(
        evaluate(report, config.thresholds), behind(report, config.schedule), metrics.interrupted
    )
    rows = with_rates(metrics.series.rows(), metrics.series.interval_ns, pacer, config.shards)
    _emit(report.to_json(), metrics.latency, rows, config)
    if verdict.interrupted:
        print("loadclient: interrupted: the report covers a partial run", file=sys.stderr)
    return exit_code(verdict)


def _emit(
    report: dict[str, Any], latency: Any, series: Sequence[Mapping[str, Any]], config: Config
) -> None:
    write_json(report, config.output)
    if config.html:
        config.html.write_text(html_report(report, latency, series))
    if not config.quiet:
        sys.stderr.write(text_report(report) + "\n")
        sys.stderr.write(
            histogram_report(latency, config.histogram_buckets_ns or DEFAULT_BUCKETS_NS)
        )
