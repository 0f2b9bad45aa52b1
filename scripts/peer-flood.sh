#!/usr/bin/env bash
# Peer-port flood: reconnecting clients send an endless request line to a member's peer
# port for 60 s; prints the member's RSS growth and hit latencies. --help lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap
exec .venv/bin/python -m tests.faults.peerflood "$@"
