"""`loadclient capacity`: runs the search's steps as real open-model runs and reports them."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace

from loadclient import prepare
from loadclient.capacity import CapacitySettings, Search
from loadclient.capacity_flags import capacity_settings
from loadclient.capacity_report import (
    Step,
    capacity_html,
    capacity_json,
    capacity_text,
    exit_code_of,
    judge,
)
from loadclient.config import Config, ConfigError
from loadclient.durations import NS_PER_S, InvalidDuration, Rate
from loadclient.exits import EXIT_INTERRUPTED, EXIT_SETUP, EXIT_USAGE
from loadclient.live import Board
from loadclient.report import Report, write_json
from loadclient.runner import WorkerFailed, run
from loadclient.stoprule import TARGET, StopRule
from loadclient.thresholds import Thresholds
from loadclient.upload import UploadError

DEFAULT_TIMEOUT_NS = 5 * NS_PER_S  # capacity's --timeout unless given: bounds each step's drain
DEFAULT_MAX_ERROR_RATE = 0.01  # capacity's --max-error-rate unless given
_SLOT_SLACK_NS = NS_PER_S  # sharded ladder: between one step's last answer and the next start


def capacity_command(
    args: argparse.Namespace, config: Config, target: prepare.Target, board: Board | None = None
) -> int:
    """Search, write the report and return the exit code (0, 1, 4; 130 after Ctrl-C)."""
    try:
        settings = capacity_settings(args)
        config = _checked(config, target, timeout_given=args.timeout_ns is not None)
    except (ConfigError, InvalidDuration, ValueError) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_USAGE
    search = Search(settings, fixed_ladder=config.shards > 1)
    try:
        steps, interrupted = _search(config, target, settings, search, board)
    except (UploadError, OSError, WorkerFailed) as exc:
        print(f"loadclient: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("\nloadclient: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if interrupted and not steps:
        print("loadclient: interrupted before the first step ended", file=sys.stderr)
        return EXIT_INTERRUPTED
    report = capacity_json(
        steps, search, settings, config.thresholds, config.schedule, config.shards
    )
    if interrupted:
        report["verdict"]["interrupted"] = True
        report["verdict"]["passed"] = False
    write_json(report, config.output)
    if config.html:
        config.html.write_text(capacity_html(report))
    if not config.quiet:
        sys.stderr.write(capacity_text(report))
    if interrupted:
        print("loadclient: interrupted: the report covers the steps that ended", file=sys.stderr)
        return EXIT_INTERRUPTED
    return exit_code_of(report)


def _checked(config: Config, target: prepare.Target, timeout_given: bool) -> Config:
    if not timeout_given:
        config = replace(config, timeout_ns=DEFAULT_TIMEOUT_NS)
    if config.stages:
        raise ConfigError("capacity chooses its own rates: no --stages")
    if config.thresholds == Thresholds():
        raise ConfigError("capacity needs an objective: --max-p99, --max-error-rate, ...")
    if config.thresholds.max_error_rate is None:
        # A latency objective alone would pass a step whose errors returned fast (a dead
        # target refuses at once): errors always count, unless a rate is given.
        thresholds = replace(config.thresholds, max_error_rate=DEFAULT_MAX_ERROR_RATE)
        config = replace(config, thresholds=thresholds)
    if config.hit_ratio < 1.0:
        raise ConfigError("capacity asks for uploaded blobs only: no --hit-ratio below 1")
    if config.shards > 1 and target.start_at_ns is None:
        raise ConfigError("capacity with --shard needs --start-at: the ladder's shared clock")
    return config


def _search(
    config: Config,
    target: prepare.Target,
    settings: CapacitySettings,
    search: Search,
    board: Board | None,
) -> tuple[list[Step], bool]:
    """_search runs steps until the search ends or Ctrl-C (True: interrupted)."""
    blobs = prepare.upload(config)
    wall_offset_ns = time.time_ns() - time.monotonic_ns()
    # Sharded: rung k of the ladder starts at --start-at + k slots, on every generator.
    slot_ns = settings.warm_up_ns + settings.window_ns + config.timeout_ns + _SLOT_SLACK_NS
    steps: list[Step] = []
    while (rate := search.next_rate()) is not None:
        start_ns = None
        if target.start_at_ns is not None:
            start_ns = target.start_at_ns - wall_offset_ns + len(steps) * slot_ns
        if board is not None:
            board.step_rate = rate
        step = _step(config, target, blobs, rate, start_ns, wall_offset_ns, settings, board)
        if step is None:
            # Ctrl-C ended this step early: a verdict on its part of a window would be a guess.
            return steps, True
        steps.append(step)
        search.record(rate, step.verdict)
        if not config.quiet:
            print(f"loadclient capacity: {rate}/s: {step.verdict}", file=sys.stderr)
    return steps, False


def _step(
    config: Config, target: prepare.Target, blobs: prepare.Uploaded, rate: int,
    start_ns: int | None, wall_offset_ns: int, settings: CapacitySettings,
    board: Board | None = None,
) -> Step | None:  # fmt: skip
    """_step runs one rate: the warm-up (stopped if the target already fails), the window;
    None: Ctrl-C interrupted it."""
    procs = config.workers * config.shards
    lag = config.schedule.max_send_lag_p99_ns
    if settings.warm_up_ns:
        warm = replace(config, rate=Rate(rate), duration_ns=settings.warm_up_ns)
        planned = math.ceil(rate * settings.warm_up_ns / NS_PER_S / procs)
        # A warm-up the generator cannot keep ends at once, undecided: the window judges it.
        rule = StopRule.of(config.thresholds, planned, lag)
        plan = replace(prepare.make_plan(warm, target, blobs), stop_rule=rule)
        metrics = run(plan, config.workers, None, start_ns, board)
        if metrics.interrupted:
            return None
        if metrics.stopped_early == TARGET:
            report = Report(metrics, wall_offset_ns, rate / config.shards)
            verdict, reasons = judge(report, TARGET, config.thresholds, config.schedule)
            return Step(rate, verdict, reasons, report.to_json(), TARGET, in_warm_up=True)
    steady = replace(config, rate=Rate(rate), duration_ns=settings.window_ns)
    planned = math.ceil(rate * settings.window_ns / NS_PER_S / procs)
    rule = StopRule.of(config.thresholds, planned, lag)
    plan = replace(prepare.make_plan(steady, target, blobs), stop_rule=rule)
    window_start = None if start_ns is None else start_ns + settings.warm_up_ns
    metrics = run(plan, config.workers, None, window_start, board)
    if metrics.interrupted:
        return None
    report = Report(metrics, wall_offset_ns, rate / config.shards)
    verdict, reasons = judge(report, metrics.stopped_early, config.thresholds, config.schedule)
    return Step(rate, verdict, reasons, report.to_json(), metrics.stopped_early)
