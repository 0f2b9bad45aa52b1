"""The flags of `run --stages`, `loadclient capacity` and `loadclient compare` (their own
module, so the shared option set in flags.py stays as it is)."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadclient.capacity import CapacitySettings
from loadclient.durations import NS_PER_S, parse_duration_ns

CAPACITY_EXITS = """Exit codes:
  0  a capacity was found within the bounds (or --max-rate itself passed)
  1  even --start-rate fails the objectives
  2  usage or configuration error
  3  the run could not happen: upload failed, casserver unreachable, unreadable --file
  4  the generator was the limit before the target failed: the target sustains at least
     the reported rate
  130 interrupted (Ctrl-C)
"""


def add_stages_flag(run: argparse.ArgumentParser) -> None:
    """Add_stages_flag adds run's --stages."""
    run.add_argument(
        "--stages",
        metavar="DUR:RATE,...",
        help="a rate schedule instead of --rate/--duration, e.g. 30s:100,60s:1000,30s:0: "
        "each stage ramps linearly from the previous stage's rate (the first from 0) to its "
        "own, in requests per second",
    )


def add_capacity_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add_capacity_parser adds `capacity`: run's options (common) plus the search's."""
    c = sub.add_parser(
        "capacity",
        parents=[common],
        help="find the highest constant rate that meets the objectives (JSON on stdout)",
        description="Search for the highest constant rate the target sustains while meeting "
        "the objectives (run's thresholds: --max-p99, --max-error-rate, ...; at least one). "
        "Each step is a real open-model run: --warm-up, then --step-window, judged alone. "
        "Steps go up by --growth from --start-rate, then bisect to --precision; with --shard "
        "the generators walk the same fixed ladder from --start-at instead.",
        epilog=CAPACITY_EXITS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = CapacitySettings()
    g = c.add_argument_group("search")
    g.add_argument(
        "--start-rate",
        type=int,
        metavar="N",
        default=d.start_rate,
        help="first (lowest) rate tried, per second (%(default)s)",
    )
    g.add_argument(
        "--max-rate",
        type=int,
        metavar="N",
        default=d.max_rate,
        help="highest rate ever offered, per second (%(default)s)",
    )
    g.add_argument(
        "--growth",
        type=float,
        metavar="X",
        default=d.growth,
        help="factor between upward steps and ladder rungs (%(default)s)",
    )
    g.add_argument(
        "--precision",
        type=float,
        metavar="RATIO",
        default=d.precision,
        help="bisect until the failing rate is within this of the passing one (%(default)s)",
    )
    g.add_argument(
        "--warm-up",
        metavar="DUR",
        default=f"{d.warm_up_ns // NS_PER_S}s",
        help="sent at the step's rate before its window, not judged (%(default)s)",
    )
    g.add_argument(
        "--step-window",
        metavar="DUR",
        default=f"{d.window_ns // NS_PER_S}s",
        help="the steady window each step is judged on (%(default)s)",
    )
    g.add_argument("--max-steps", type=int, metavar="N", default=d.max_steps,
                   help="most steps in all (%(default)s)")  # fmt: skip


def capacity_settings(args: argparse.Namespace) -> CapacitySettings:
    """Capacity_settings reads the search's flags."""
    return CapacitySettings(
        start_rate=args.start_rate, max_rate=args.max_rate, growth=args.growth,
        precision=args.precision, warm_up_ns=parse_duration_ns(args.warm_up),
        window_ns=parse_duration_ns(args.step_window), max_steps=args.max_steps,
    ).validate()  # fmt: skip


def add_compare_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add_compare_parser adds `compare A.json B.json`."""
    c = sub.add_parser(
        "compare",
        help="two JSON reports side by side: each figure, its change and ratio",
        description="Print two loadclient JSON reports (run, merge or capacity) side by side: "
        "each figure of both, B - A and B / A. --html writes one page with both runs' "
        "curves overlaid.",
    )
    c.add_argument("a", type=Path, metavar="A.json")
    c.add_argument("b", type=Path, metavar="B.json")
    c.add_argument("--html", type=Path, metavar="PATH", help="write the comparison as HTML")
