"""``casserver``: run the CAS server under granian (default) or gunicorn (gthread workers).

Flags override the environment by being written into it, so the main process, the
gunicorn settings file and every worker read one ``Config.from_env``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from casserver.config import ENV, SERVERS, TASK_IMPLS, Config, ConfigError

CONF_PATH = Path(__file__).with_name("gunicorn.conf.py")
DEFAULTS = Config()


def parse_args(argv: Sequence[str] | None) -> dict[str, str]:
    """Parse_args returns the environment overrides the command-line flags ask for."""
    parser = argparse.ArgumentParser(
        prog="casserver",
        description="Content-addressable blob store (granian or gunicorn).",
        epilog="casserver evict --help: one eviction pass now (docs/storage.md).",
    )
    parser.add_argument("--host", help=f"listen address (env {ENV['host']}, default 0.0.0.0)")
    parser.add_argument("--port", type=int, help=f"listen port (env {ENV['port']}, default 5000)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        help=f"serve /metrics on this port only, not on --port (env {ENV['metrics_port']}, "
        "default unset: /metrics on --port)",
    )
    parser.add_argument(
        "--storage", help=f"storage directory (env {ENV['storage_dir']}, default ./cas-data)"
    )
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (env {ENV['workers']}, default 2)"
    )
    parser.add_argument(
        "--threads", type=int, help=f"app threads per worker (env {ENV['threads']}, default 8)"
    )
    parser.add_argument(
        "--server", choices=SERVERS, help=f"HTTP server (env {ENV['server']}, default granian)"
    )
    parser.add_argument(
        "--memory-cache-bytes",
        type=int,
        help=f"bytes of small blobs each granian worker keeps in memory, 0 for none "
        f"(env {ENV['memory_cache_bytes']}, default {DEFAULTS.memory_cache_bytes})",
    )
    parser.add_argument(
        "--memory-cache-item-bytes",
        type=int,
        help=f"largest blob kept in memory (env {ENV['memory_cache_item_bytes']}, "
        f"default {DEFAULTS.memory_cache_item_bytes})",
    )
    parser.add_argument(
        "--max-bytes",
        help=f"storage budget: bytes, 10GiB or 85%% of the volume; least recently used "
        f"blobs go past it (env {ENV['max_bytes']}, default unset: no eviction)",
    )
    parser.add_argument(
        "--task-impl",
        choices=TASK_IMPLS,
        help=f"how granian runs request coroutines (env {ENV['task_impl']}, "
        f"default {DEFAULTS.task_impl})",
    )
    args = parser.parse_args(argv)
    flags = {"host": args.host, "port": args.port, "storage_dir": args.storage}
    flags["metrics_port"] = args.metrics_port
    flags |= {"workers": args.workers, "threads": args.threads, "server": args.server}
    flags["memory_cache_bytes"] = args.memory_cache_bytes
    flags["memory_cache_item_bytes"] = args.memory_cache_item_bytes
    flags["task_impl"] = args.task_impl
    flags["max_bytes"] = args.max_bytes
    return {ENV[name]: str(value) for name, value in flags.items() if value is not None}


def main(argv: Sequence[str] | None = None) -> None:
    """Main parses flags, validates the configuration and runs the server until it stops."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["evict"]:
        from casserver import evictcommand

        evictcommand.main(args[1:])
        return
    os.environ.update(parse_args(argv))
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        sys.exit(f"casserver: {exc}")
    if config.server == "granian":
        from casserver import granianserver

        granianserver.serve(config)
        return

    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = ["casserver", "--config", str(CONF_PATH)]
    WSGIApplication("%(prog)s").run()


if __name__ == "__main__":
    main()
