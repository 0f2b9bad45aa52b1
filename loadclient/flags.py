"""The `loadclient` command line's flags, and the Config they make (flags override the env)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from loadclient.capacity_flags import add_capacity_parser, add_compare_parser
from loadclient.config import Config, ConfigError
from loadclient.exits import __doc__ as EXITS
from loadclient.settings import SETTINGS


def parser() -> argparse.ArgumentParser:
    """Return the parser of `loadclient run`, `capacity` (flags from their settings), `merge`
    and `compare`."""
    epilog = EXITS.split("\n", 1)[1] if EXITS else None
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="loadclient",
        description="Upload a blob to casserver, then GET it from the cache at a constant rate.",
        epilog=epilog,
        formatter_class=raw,
    )
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)  # run's options, shared with capacity
    SETTINGS.add_flags(common, Config())
    sub.add_parser(
        "run",
        parents=[common],
        help="upload, attack, report (JSON on stdout)",
        description="Upload a blob (multipart PUT /cas/{sha256}), then GET it from the cache "
        "at a constant rate; the Vegeta-style JSON report goes to stdout, the text report to "
        "stderr. Flags override the environment.",
        epilog=epilog,
        formatter_class=raw,
    )
    add_capacity_parser(sub, common)
    m = sub.add_parser(
        "merge",
        help="merge JSON reports of several generators into one (JSON on stdout)",
        description="Merge `loadclient run` JSON reports (e.g. one per --shard) exactly: counts "
        "add, histograms add bucket by bucket. The merged report goes to stdout, its text "
        "report to stderr; the exit code is the worst of the inputs' verdicts.",
    )
    m.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    m.add_argument("--quiet", action="store_true", help="no text report on stderr")
    add_compare_parser(sub)
    return p


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Return Config.from_env(environ) overridden by every flag given, checked as a whole."""
    if getattr(args, "size_bytes,size_max_bytes") is not None and args.file is not None:
        raise ConfigError("give --size or --file, not both")
    if args.stages is not None and (args.rate is not None or args.duration_ns is not None):
        raise ConfigError("--stages replaces --rate and --duration: give one or the other")
    c = Config.from_env(environ, args)
    if c.stages:
        c = replace(c, duration_ns=sum(s.duration_ns for s in c.stages))
    if c.file is not None:
        c = replace(c, size_bytes=0)
    if c.max_connections < c.connections:
        c = replace(c, max_connections=c.connections)
    return c.validate()
