"""``casserver``: run the CAS server under granian (default) or gunicorn (gthread workers).

The Config is read once here (environment, then flags) and passed on explicitly: to
granian's workers inside their loader, to gunicorn's in memory across the fork.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cascommon.ports import check_free
from cascommon.settings import EXIT_CONFIG
from casserver.config import Config, ConfigError, VerifyConfig, check_store
from casserver.settings import SETTINGS, VERIFY_SETTINGS


def parser() -> argparse.ArgumentParser:
    """Return the command line's parser; each flag's help names its variable and default."""
    p = argparse.ArgumentParser(
        prog="casserver",
        description="Content-addressable blob store (granian or gunicorn).",
        epilog="casserver verify --help, casserver evict --help: the subcommands.",
    )
    SETTINGS.add_flags(p, Config())
    return p


def verify_parser() -> argparse.ArgumentParser:
    """Return ``casserver verify``'s parser."""
    p = argparse.ArgumentParser(
        prog="casserver verify",
        description="Hash every stored blob; move damaged ones to <storage>/quarantine/. "
        "Exits 1 when it found any, 2 when the path is not a store.",
    )
    VERIFY_SETTINGS.add_flags(p, VerifyConfig())
    return p


def verify(argv: Sequence[str]) -> int:
    """Run ``casserver verify`` and return its exit status."""
    from casserver import verify as verifier

    config = VerifyConfig.from_env(os.environ, verify_parser().parse_args(argv))
    check_store(config.storage_dir)
    return verifier.run(config.storage_dir, None if config.offline else config.rate_mbps)


def check_storage(root: Path) -> None:
    """Make the store's layout under root, or raise ConfigError saying in one line why not."""
    from casserver.storage import BlobStore  # imports no prometheus_client: safe this early

    try:
        BlobStore(root)
    except OSError as exc:
        raise ConfigError(f"unusable storage path {root}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until it stops; a bad configuration is one line on stderr and exit 2."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["verify"]:
            return verify(argv[1:])
        if argv[:1] == ["evict"]:
            from casserver import evictcommand

            return evictcommand.main(argv[1:])
        config = Config.from_env(os.environ, parser().parse_args(argv))
        check_storage(config.storage_dir)
        check_free(config.host, {"CAS_SERVER_PORT": config.port,
                                 "CAS_METRICS_PORT": config.metrics_port})  # fmt: skip
        if config.server == "granian":
            from casserver import granianserver

            granianserver.serve(config)
        else:
            from casserver import gunicornserver

            gunicornserver.serve(config)
    except ConfigError as exc:
        print(f"casserver: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


if __name__ == "__main__":
    sys.exit(main())
