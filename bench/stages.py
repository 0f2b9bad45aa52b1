"""`loadclient run --stages` against one nginx worker: each stage's mean achieved rate against
its mean target, and the send lag, on one core.

Usage: ``.venv/bin/python bench/stages.py [--stages 5s:1000,10s:5000,5s:0] [--no-pin]``

nginx is pinned to CPU 0 and loadclient (one process, --timer precise) to CPU 1, as in
bench/loadclient.py. Targets (issue 20): every stage within 1 % of its mean target rate,
send-lag p99 under 1 ms at up to 5000/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from loadclient import served_blob  # bench/loadclient.py (bench/ is sys.path[0])


def main() -> int:
    """Run the staged attack once; print each stage and the send lag; 1 when a target is missed."""
    p = argparse.ArgumentParser()
    p.add_argument("--stages", default="5s:1000,10s:5000,5s:0")
    p.add_argument("--no-pin", action="store_true")
    args = p.parse_args()
    with served_blob(25_000, pin=not args.no_pin) as (url, blob):
        base = url.rsplit("/cas/", 1)[0]
        out = subprocess.run(
            [sys.executable, "-m", "loadclient", "run", "--cache", base, "--file", str(blob),
             "--skip-upload", "--stages", args.stages, "--quiet", "--connections", "64"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    report = json.loads(out.stdout)
    worst = 0.0
    for s in report["stages"]:
        off = s["achieved_rate"] / s["target_rate"] - 1 if s["target_rate"] else 0.0
        worst = max(worst, abs(off))
        print(f"{s['stage']:>14}  target {s['target_rate']:8.1f}/s  achieved "
              f"{s['achieved_rate']:8.1f}/s  ({off:+.3%})")  # fmt: skip
    lag = report["send_lag"]
    print(
        f"send lag p50 {lag['50th'] / 1e3:.0f} µs  p99 {lag['99th'] / 1e3:.0f} µs  "
        f"max {lag['max'] / 1e6:.1f} ms; dropped {report['dropped']}; exit {out.returncode}"
    )
    return 0 if worst <= 0.01 and lag["99th"] < 1_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
