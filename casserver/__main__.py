"""``casserver``: run the CAS server under granian (default) or gunicorn (gthread workers).

The Config is read once here (environment, then flags) and passed on explicitly: to
granian's workers inside their loader, to gunicorn's in memory across the fork.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cascommon.ports import check_free
from casserver.config import Config, ConfigError
from casserver.settings import SETTINGS

EXIT_CONFIG = 2


def parser() -> argparse.ArgumentParser:
    """Return the command line's parser; each flag's help names its variable and default."""
    p = argparse.ArgumentParser(
        prog="casserver", description="Content-addressable blob store (granian or gunicorn)."
    )
    SETTINGS.add_flags(p, Config())
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until it stops; a bad configuration is one line on stderr and exit 2."""
    args = parser().parse_args(argv)
    try:
        config = Config.from_env(os.environ, args)
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
