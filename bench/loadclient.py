"""Maximum request rate of loadclient against wrk, same nginx, same run; and rate accuracy.

Usage: ``.venv/bin/python -m bench.loadclient [--duration-s 4] [--rounds 3] [--connections 64]
[--size 25000] [--accuracy-rate 5000] [--timer-rates 200,1000,5000] [--json] [--no-pin]``

Starts one nginx worker (non-daemon, generated config in a temp dir, free loopback port)
serving one random blob at /cas/<sha256>, pinned to CPU 0; the clients run pinned to CPU 1
(--no-pin: unpinned, and 2 threads/workers are compared too). In alternating rounds, wrk
(-t1) and loadclient at rate 0 (closed model, as fast as it can; --workers 1) each load it
over the same number of keep-alive connections; medians per configuration are printed with
the ratio loadclient/wrk (target >= 0.8). Every loadclient body is verified against the
digest (a run with a failed or unchecked body aborts the benchmark). Then loadclient runs
the open model at a rate nginx keeps up with, and the achieved rate is compared with the
target (target: within 1 %). Last, the open model at each of --timer-rates with each
--timer: send lag (how late requests left), latency p50 beside service-time p50 (the gap is
the generator's), and CPU per request.

Client and server share the machine's cores (and whatever else runs on it), so the figures
are indicative; the ratio between the two clients, measured in the same run, is what counts.
CPU time per request (wrk: the whole process; loadclient: its attack phase, from the report)
is printed beside the rates: it is less sensitive to other load than the rates are.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import harness

TARGET_RATIO = 0.8


@contextmanager
def served_blob(size: int, pin: bool = False) -> Iterator[tuple[str, Path]]:
    """Served_blob has one nginx worker serve a random blob; it yields its URL and file.

    With pin, nginx runs on CPU 0 and whatever this process starts inside on CPU 1.
    """
    with harness.workdir("bench-loadclient-") as root:
        digest = harness.write_blob(root, os.urandom(size))
        nginx = harness.nginx(root, keepalive_requests=100_000_000, keepalive_timeout_s=120)
        if pin:
            os.sched_setaffinity(0, {0})  # inherited by nginx
        with nginx as base:
            if pin:
                os.sched_setaffinity(0, {1})  # inherited by wrk and loadclient
            yield f"{base}/cas/{digest}", root / "www" / "cas" / digest


def loadclient(
    url: str,
    blob: Path,
    rate: str,
    workers: int,
    connections: int,
    duration_s: float,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """Loadclient runs `loadclient run` (no upload: nginx already has the blob), returns JSON."""
    base = url.rsplit("/cas/", 1)[0]
    out = subprocess.run(
        [sys.executable, "-m", "loadclient", "run", "--cache", base, "--file", str(blob),
         "--skip-upload", "--rate", rate, "--duration", f"{duration_s:g}s", "--quiet",
         "--workers", str(workers), "--connections", str(connections), *extra],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode not in (0, 4):
        raise RuntimeError(f"loadclient exited {out.returncode}: {out.stderr}")
    report: dict[str, Any] = json.loads(out.stdout)
    if report["success"] < 1.0:
        raise RuntimeError(f"loadclient saw errors: {report['errors']}")
    if report["integrity"]["checked"] != report["requests"]:
        raise RuntimeError(f"loadclient verified {report['integrity']} of {report['requests']}")
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration-s", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--size", type=int, default=25_000)
    p.add_argument("--accuracy-rate", type=int, default=5000, help="open-model rate (req/s)")
    p.add_argument(
        "--timer-rates", default="200,1000,5000", help="open-model rates (req/s) to compare "
        "--timer precise and loop at; empty to skip",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    a = p.parse_args()
    threads = (1, 2) if a.no_pin else (1,)
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with served_blob(a.size, pin=not a.no_pin) as (url, blob):
        for r in range(a.rounds):
            for n in threads:
                run = harness.wrk(
                    url, threads=n, connections=a.connections, duration_s=a.duration_s
                )
                rates.setdefault(f"wrk -t{n}", []).append(run.rps)
                cpu.setdefault(f"wrk -t{n}", []).append(run.cpu_us_per_request)
                rep = loadclient(url, blob, "0", n, a.connections, a.duration_s)
                rates.setdefault(f"loadclient --workers {n}", []).append(rep["rate"])
                cpu.setdefault(f"loadclient --workers {n}", []).append(
                    rep["client_cpu"]["per_request_us"]
                )
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rates.items()))
        acc = loadclient(url, blob, f"{a.accuracy_rate}/1s", 1, a.connections, a.duration_s)
        timed = [
            (rate, timer, loadclient(url, blob, f"{rate}/1s", 1, a.connections, a.duration_s,
                                     ("--timer", timer, "--max-send-lag", "1s")))
            for rate in (int(r) for r in a.timer_rates.split(",") if r.strip())
            for timer in ("precise", "loop")
        ]  # fmt: skip
    med = {k: statistics.median(v) for k, v in rates.items()}
    best_wrk = max(v for k, v in med.items() if k.startswith("wrk"))
    best_lc = max(v for k, v in med.items() if k.startswith("loadclient"))
    print(f"\n{a.size} B blob from one nginx worker, {a.connections} connections, "
          f"{a.duration_s:g}s runs, medians of {a.rounds} rounds (requests/s):")  # fmt: skip
    print(f"  {'client':<24}{'req/s':>10}{'CPU µs/req':>14}")
    for k, v in med.items():
        print(f"  {k:<24}{v:>10.0f}{statistics.median(cpu[k]):>14.1f}")
    ratio = best_lc / best_wrk
    verdict = "ok" if ratio >= TARGET_RATIO else f"below target {TARGET_RATIO}"
    print(
        f"  best loadclient / best wrk = {best_lc:.0f} / {best_wrk:.0f} = {ratio:.2f} ({verdict})"
    )
    for n in threads:
        print(f"  same threads ({n}): {med[f'loadclient --workers {n}'] / med[f'wrk -t{n}']:.2f}")
    expected = a.accuracy_rate * a.duration_s
    accuracy = acc["achieved_rate"] / acc["target_rate"]
    print(f"\nopen model at {a.accuracy_rate}/s for {a.duration_s:g}s: requests {acc['requests']} "
          f"(expected {expected:.0f}), achieved {acc['achieved_rate']:.1f}/s = {accuracy:.4f} "
          f"of target, send lag p99 {acc['send_lag']['99th'] / 1e6:.2f} ms, "
          f"latency p99 {acc['latencies']['99th'] / 1e6:.2f} ms, "
          f"behind: {acc['verdict']['behind'] or 'no'}")  # fmt: skip
    if timed:
        print(f"\nopen model by --timer ({a.duration_s:g}s runs; µs):")
        print(f"  {'rate':>6} {'timer':<8}{'lag mean':>9}{'p50':>7}{'p99':>8}"
              f"{'latency p50':>13}{'service p50':>13}{'CPU/req':>9}")  # fmt: skip
        for rate, timer, rep in timed:
            lag, lat, svc = rep["send_lag"], rep["latencies"], rep["service_time"]
            print(f"  {rate:>6} {timer:<8}{lag['mean'] / 1e3:>9.0f}{lag['50th'] / 1e3:>7.0f}"
                  f"{lag['99th'] / 1e3:>8.0f}{lat['50th'] / 1e3:>13.0f}{svc['50th'] / 1e3:>13.0f}"
                  f"{rep['client_cpu']['per_request_us']:>9.1f}")  # fmt: skip
    if a.json:
        print(json.dumps({"medians": med, "ratio": ratio, "accuracy": accuracy,
                          "accuracy_requests": acc["requests"], "expected": expected}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
