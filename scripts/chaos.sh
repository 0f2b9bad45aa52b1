#!/usr/bin/env bash
# Chaos: hits and misses through one cache member while a member, then the origin, is
# killed, restarted and frozen; prints error shares per phase. --help lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap
exec .venv/bin/python -m tests.faults.chaos "$@"
