"""The parsers of `loadclient capacity` and `loadclient compare`."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadclient.capacity import CapacitySettings
from loadclient.settings import CAPACITY_SETTINGS

CAPACITY_EXITS = """Exit codes:
  0  a capacity was found within the bounds (or --max-rate itself passed)
  1  even --start-rate fails the objectives
  2  usage or configuration error
  3  the run could not happen: upload failed, casserver unreachable, unreadable --file
  4  the generator was the limit before the target failed: the target sustains at least
     the reported rate
  130 interrupted (Ctrl-C)
"""


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
    CAPACITY_SETTINGS.add_flags(c, CapacitySettings())


def capacity_settings(args: argparse.Namespace) -> CapacitySettings:
    """Return the search's settings from its flags (declared in loadclient.settings)."""
    return CAPACITY_SETTINGS.load(CapacitySettings, {}, args).validate()


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
