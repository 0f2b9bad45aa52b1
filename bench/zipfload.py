"""A Zipf workload over many keys, spread evenly over several front ends.

loadclient's ``--keys``/``--distribution zipf:S``/``--shard`` split one schedule into one
shard per front end; the origin's own GET counter says how many requests the caches could
not answer. Used by bench/system.py.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from tests.faults.loadrun import LoadRun
from tests.tier import origin_gets


def run(
    fronts: list[str], origin: str, a: argparse.Namespace, work: Path, name: str
) -> dict[str, Any]:
    """Drive the workload through fronts; return requests, origin loads and hit ratio."""
    loads = functools.partial(origin_gets, origin)
    rate = a.zipf_rate
    duration_s = max(a.zipf_requests / rate, 1.0)
    before = loads()
    runs = [
        LoadRun(
            [
                "--cas",
                origin,
                "--cache",
                front,
                "--keys",
                str(a.keys),
                "--distribution",
                f"zipf:{a.zipf_s:g}",
                "--size",
                str(a.zipf_size),
                "--rate",
                f"{rate}/1s",
                "--duration",
                f"{duration_s:g}s",
                "--seed",
                "3",
                "--shard",
                f"{i}/{len(fronts)}",
                "--timeout",
                "30s",
                "--connections",
                "8",
            ],
            work / f"{name}-zipf{i}.json",
            work / f"{name}-zipf{i}.log",
        )  # fmt: skip
        for i, front in enumerate(fronts)
    ]
    results = [r.wait(duration_s + 600) for r in runs]
    requests_sent = sum(r.requests for r in results)
    origin_loads = loads() - before
    return {
        "driver": "loadclient --keys --distribution zipf --shard",
        "requests": requests_sent,
        "origin_loads": origin_loads,
        "hit_ratio": 1 - origin_loads / requests_sent if requests_sent else 0.0,
        "errors": sum(r.failed for r in results),
    }
