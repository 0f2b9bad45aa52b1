"""Soak: many distinct blobs through the tier for minutes; each member's RSS stays bounded.

Run by ``scripts/soak.sh``. A three-member tier starts with a small ``CACHE_BYTES``; one
loadclient per member asks it for fresh blobs (and a share of hits) at a fixed rate, so
far more distinct bytes pass through the tier than it can hold. Each member's resident
memory (its whole process group, from /proc) is sampled every --sample seconds and must
stay within its idle RSS + 1.5 x CACHE_BYTES (DESIGN's bound). Exits 1 when a member
exceeds it or a request failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.faults.loadrun import Load, LoadRun
from tests.tier import Tier, group_rss_bytes, running

MIB = 1 << 20
RSS_FACTOR = 1.5


@dataclass(frozen=True)
class Settings:
    """Settings are one soak's length, load and cache size."""

    duration_s: float = 180.0
    rate: int = 25  # per member
    hit_ratio: float = 0.2
    size: int = 64_000
    cache_bytes: int = 32 * MIB
    sample_s: float = 1.0
    workdir: Path | None = None
    output: Path | None = None


@dataclass
class Memory:
    """Memory is one member's RSS: idle before the load, and the peak while it ran."""

    idle: int
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    def bound(self, cache_bytes: int) -> int:
        return self.idle + int(RSS_FACTOR * cache_bytes)

    def to_json(self, cache_bytes: int) -> dict[str, int]:
        return {
            "idle_rss": self.idle,
            "peak_rss": self.peak,
            "bound": self.bound(cache_bytes),
            "samples": len(self.samples),
        }

    def add(self, rss: int) -> None:
        self.samples.append(rss)
        self.peak = max(self.peak, rss)


def sample(tier: Tier, memory: list[Memory], every_s: float, stop: threading.Event) -> None:
    """Sample records each member's RSS every every_s seconds until stop is set."""
    while not stop.wait(every_s):
        for proc, mem in zip(tier.members, memory, strict=True):
            mem.add(group_rss_bytes(proc))


def warm_up(tier: Tier, requests_each: int = 50) -> None:
    """Warm_up sends each member a few requests, so idle RSS includes its request machinery."""
    data = os.urandom(1000)
    digest = hashlib.sha256(data).hexdigest()
    with requests.Session() as http:
        http.put(f"{tier.origin_url}/cas/{digest}", data=data, timeout=10).raise_for_status()
        for url in tier.urls:
            for _ in range(requests_each):
                http.get(f"{url}/cas/{digest}", timeout=10).raise_for_status()


def evictions(stats: Any) -> int:
    """Evictions is how many values a member's main and hot caches evicted."""
    return int(stats["main"]["evictions"] + stats["hot"]["evictions"])


def report(s: Settings, memory: list[Memory], loads: list[Load], stats: list[Any]) -> bool:
    """Report prints each member's figures and returns whether the soak passed."""
    ok = True
    print(f"CACHE_BYTES {s.cache_bytes / MIB:.1f} MiB; bound = idle + {RSS_FACTOR} x CACHE_BYTES")
    print(f"{'member':<7} {'idle MiB':>9} {'peak MiB':>9} {'bound MiB':>10} {'peak-idle':>10} "
          f"{'evictions':>9} {'requests':>8} {'failed':>6}")  # fmt: skip
    for i, (mem, load, st) in enumerate(zip(memory, loads, stats, strict=True)):
        within = mem.peak <= mem.bound(s.cache_bytes)
        ok = ok and within and load.failed == 0
        print(
            f"{i:<7} {mem.idle / MIB:>9.1f} {mem.peak / MIB:>9.1f} "
            f"{mem.bound(s.cache_bytes) / MIB:>10.1f} "
            f"{(mem.peak - mem.idle) / s.cache_bytes:>9.2f}x {evictions(st):>9} "
            f"{load.requests:>8} {load.failed:>6}{'' if within else '  OVER THE BOUND'}"
        )
    print("PASS" if ok else "FAIL")
    return ok


def run(s: Settings) -> int:
    """Run starts the tier, soaks it and prints and returns the verdict."""
    workdir = s.workdir or Path(tempfile.mkdtemp(prefix="cas-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"CACHE_BYTES": str(s.cache_bytes), "LOG_LEVEL": "WARNING"}
    with running(Tier(workdir, member_env=env)) as tier:
        warm_up(tier)
        memory = [Memory(idle=group_rss_bytes(p)) for p in tier.members]
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(tier, memory, s.sample_s, stop))
        sampler.start()
        try:
            runs = [
                LoadRun(
                    [
                        "--cas",
                        tier.origin_url,
                        "--cache",
                        url,
                        "--size",
                        str(s.size),
                        "--rate",
                        f"{s.rate}/1s",
                        "--duration",
                        f"{s.duration_s:g}s",
                        "--hit-ratio",
                        str(s.hit_ratio),
                        "--seed",
                        str(100 + i),
                    ],
                    workdir / f"load{i}.json",
                    workdir / f"load{i}.log",
                )  # fmt: skip
                for i, url in enumerate(tier.urls)
            ]
            loads = [r.wait(s.duration_s + 600) for r in runs]
        finally:
            stop.set()
            sampler.join()
        stats = [requests.get(f"{url}/stats", timeout=5).json() for url in tier.urls]
    distinct = sum(load.cache.get("miss", 0) + load.cache.get("peer", 0) for load in loads)
    print(f"soak: {s.duration_s:g} s, {sum(x.requests for x in loads)} requests, "
          f"~{distinct * s.size / MIB:.0f} MiB of blobs loaded into the tier")  # fmt: skip
    ok = report(s, memory, loads, stats)
    if s.output:
        figures = {
            "cache_bytes": s.cache_bytes,
            "loaded_bytes": distinct * s.size,
            "members": [
                {**m.to_json(s.cache_bytes), "evictions": evictions(st), "load": load.to_json()}
                for m, load, st in zip(memory, loads, stats, strict=True)
            ],
            "pass": ok,
        }
        s.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"soak: logs and reports in {workdir}", file=sys.stderr)
    return 0 if ok else 1


def parse_args(argv: list[str]) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(prog="scripts/soak.sh", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=d.duration_s, help="seconds of load")
    p.add_argument("--rate", type=int, default=d.rate, help="requests/s per member")
    p.add_argument("--hit-ratio", type=float, default=d.hit_ratio)
    p.add_argument("--size", type=int, default=d.size, help="blob bytes")
    p.add_argument("--cache-bytes", type=int, default=d.cache_bytes, help="each member's budget")
    p.add_argument("--sample", type=float, default=d.sample_s, help="seconds between RSS samples")
    p.add_argument("--workdir", type=Path, help="logs and reports (default: a temp dir)")
    p.add_argument("--output", type=Path, help="write the figures as JSON here")
    a = p.parse_args(argv)
    return Settings(
        a.duration, a.rate, a.hit_ratio, a.size, a.cache_bytes, a.sample, a.workdir, a.output
    )


def main() -> int:
    return run(parse_args(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
