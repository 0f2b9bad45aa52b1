"""Entry point: `python -m loadclient` and the `loadclient` console script."""

from __future__ import annotations

import sys

try:
    from loadclient.cli import main as _main
except KeyboardInterrupt:  # Ctrl-C while still importing: stop quietly, as the run does
    sys.exit(130)


def main() -> None:
    """Run the command line and exit with its code."""
    try:
        code = _main()
    except KeyboardInterrupt:  # before the run's own handler (parsing, set-up): stop quietly
        print("loadclient: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
