"""A Zipf workload over many keys, spread evenly over several front ends.

With loadclient's ``--keys``/``--distribution zipf:S``/``--shard`` (when this loadclient has
them) one schedule is split into one shard per front end; otherwise a small sequential
driver here draws the same kind of workload. Either way the origin's own GET counter says
how many requests the caches could not answer. Imported by bench/system.py, which puts
the repository root on sys.path first (for tests.faults.loadrun).
"""

from __future__ import annotations

import argparse
import functools
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import harness
import requests

from tests.faults.loadrun import LoadRun
from tests.tier import origin_gets


@functools.cache
def loadclient_has_keys() -> bool:
    """Loadclient_has_keys says whether loadclient can draw --keys by --distribution itself."""
    help_text = subprocess.run(
        [sys.executable, "-m", "loadclient", "run", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return "--distribution" in help_text and "--shard" in help_text


def run(
    fronts: list[str], origin: str, a: argparse.Namespace, work: Path, name: str
) -> dict[str, Any]:
    """Run drives the workload through fronts and returns requests, origin loads, hit ratio."""
    count_loads = functools.partial(origin_gets, origin)
    if loadclient_has_keys():
        requests_sent, errors, loads = by_loadclient(fronts, origin, a, work, name, count_loads)
        driver = "loadclient --keys --distribution zipf --shard"
    else:
        requests_sent, errors, loads = by_driver(fronts, origin, a, count_loads)
        driver = "bench/zipfload.py (loadclient has no --keys yet)"
    return {
        "driver": driver,
        "requests": requests_sent,
        "origin_loads": loads,
        "hit_ratio": 1 - loads / requests_sent if requests_sent else 0.0,
        "errors": errors,
    }


def by_loadclient(
    fronts: list[str], origin: str, a: argparse.Namespace, work: Path, name: str, loads: Any
) -> tuple[int, int, int]:
    """By_loadclient runs one loadclient shard of one shared schedule per front end."""
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
    return sum(r.requests for r in results), sum(r.failed for r in results), loads() - before


def by_driver(
    fronts: list[str], origin: str, a: argparse.Namespace, loads: Any, seed: int = 3
) -> tuple[int, int, int]:
    """By_driver uploads a.keys blobs and GETs them one at a time, each from a random front."""
    rng = random.Random(seed)
    digests = [harness.put(origin, rng.randbytes(a.zipf_size)) for _ in range(a.keys)]
    weights = [1 / (rank + 1) ** a.zipf_s for rank in range(a.keys)]
    picks = rng.choices(range(a.keys), weights, k=a.zipf_requests)
    before = loads()
    errors = 0
    with requests.Session() as http:
        for key in picks:
            front = fronts[rng.randrange(len(fronts))]
            errors += http.get(f"{front}/cas/{digests[key]}", timeout=30).status_code != 200
    return a.zipf_requests, errors, loads() - before
