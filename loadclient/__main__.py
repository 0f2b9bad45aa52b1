"""Entry point: `python -m loadclient` and the `loadclient` console script."""

from __future__ import annotations

import sys

try:
    from loadclient.cli import main as _main
except KeyboardInterrupt:  # Ctrl-C while still importing: stop quietly, as the run does
    sys.exit(130)


def main() -> None:
    """Run the command line and exit with its code."""
    sys.exit(_main())


if __name__ == "__main__":
    main()
