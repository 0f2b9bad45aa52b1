#!/usr/bin/env bash
# Soak: many distinct blobs through a three-member tier for minutes; prints each member's
# peak RSS against idle + 1.5 x CACHE_BYTES. --help lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap
exec .venv/bin/python -m tests.faults.soak "$@"
