"""Entry point: `python -m loadclient` and the `loadclient` console script."""

from __future__ import annotations

import sys

from loadclient.cli import main as _main


def main() -> None:
    """Main runs the command line and exits with its code."""
    sys.exit(_main())


if __name__ == "__main__":
    main()
