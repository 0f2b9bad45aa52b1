"""Run the whole stack on this machine: casserver, N cacheservers, then a load test.

Started by scripts/run. Every server runs as a real process on a free loopback port
with its JSON log in the run directory; the load client's Vegeta-format JSON report
goes to stdout. Servers are stopped with SIGTERM (then SIGKILL) however this exits,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadclient.durations import InvalidDuration, parse_duration_ns, parse_rate
from procharness import (
    PYTHON,
    ServerProcess,
    cacheserver_argv,
    child_groups,
    end_groups,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent
STARTING_STOP_S = 2.0  # a server still starting has nothing to drain: do not wait 10 s for it


class Stack:
    """The server processes this run started; stops them all."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.servers: list[tuple[str, ServerProcess]] = []

    def start(self, name: str, argv: list[str], base_url: str) -> None:
        """Start one server and wait until its /healthz answers 200."""
        server = ServerProcess(argv, base_url=base_url, log_path=self.run_dir / f"{name}.log")
        self.servers.append((name, server))
        try:
            server.start(deadline_s=30)
        except (RuntimeError, TimeoutError):
            last = server.log_tail(1).strip()[-300:]
            raise SystemExit(
                f"stack: {name} did not start ({last}); see {server.log_path}"
            ) from None
        print(f"stack: {name} is up at {base_url}/healthz", file=sys.stderr)

    def stop(self) -> None:
        """SIGTERM every server at once, then SIGKILL those still there after their grace."""
        for _, server in reversed(self.servers):
            server.signal(signal.SIGTERM)
        for name, server in reversed(self.servers):
            if server.proc is None:
                continue
            try:
                server.proc.wait(10 if server.ready else STARTING_STOP_S)
            except subprocess.TimeoutExpired:
                if server.ready:
                    print(f"stack: {name} ignored SIGTERM, killing it", file=sys.stderr)
                server.kill()
        # A Ctrl-C inside subprocess.Popen, after the fork, leaves a server running that
        # no ServerProcess holds (seen beside busy loops): every child group goes too.
        end_groups(child_groups(os.getpid()), STARTING_STOP_S)


def checked(parse: Callable[[str], Any], what: str) -> Callable[[str], str]:
    """Return an argparse type that checks a value with parse and keeps its text."""

    def check(text: str) -> str:
        try:
            parse(text)
        except (InvalidDuration, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"{what}: {exc}") from None
        return text

    return check


def at_least_one(text: str) -> int:
    """Parse a count of one or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1, got {value}")
    return value


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split argv at --: this script's options before, `loadclient run`'s after."""
    p = argparse.ArgumentParser(
        prog="scripts/run",
        description="Start casserver and a cacheserver ring on loopback, upload a blob, "
        "load-test cached GETs and print the Vegeta-format JSON report. "
        "Arguments after -- go to `loadclient run`.",
    )
    p.add_argument("--caches", type=at_least_one, default=3, help="ring members (default 3)")
    p.add_argument(
        "--rate", type=checked(parse_rate, "rate"), default="200/1s", help="GET rate (200/1s)"
    )
    p.add_argument(
        "--duration", type=checked(parse_duration_ns, "duration"), default="10s",
        help="attack duration (default 10s)",
    )  # fmt: skip
    p.add_argument("--size", type=at_least_one, default=25000, help="blob bytes (default 25000)")
    p.add_argument("--run-dir", type=Path, help="logs and storage (default run/<timestamp>)")
    p.add_argument(
        "--keep", action="store_true", help="after the test, keep the stack up until Ctrl-C"
    )
    p.add_argument(
        "--capacity",
        action="store_true",
        help="run `loadclient capacity` instead (objectives --max-p99 50ms --max-error-rate "
        "0.01 unless given after --; --rate and --duration do not apply): the JSON on stdout, "
        "the chart in <run-dir>/capacity.html",
    )
    own, rest = argv, []
    if "--" in argv:
        i = argv.index("--")
        own, rest = argv[:i], argv[i + 1 :]
    return p.parse_args(own), rest


def start_servers(stack: Stack, run_dir: Path, caches: int) -> tuple[str, list[int]]:
    """Start casserver and the ring; return casserver's host:port and the client ports."""
    cas_port = free_port()
    cas = f"127.0.0.1:{cas_port}"
    stack.start(
        "casserver",
        [PYTHON, "-m", "casserver", "--host", "127.0.0.1", "--port", str(cas_port),
         "--storage", str(run_dir / "cas-data"), "--workers", "2"],
        f"http://{cas}",
    )  # fmt: skip
    ports = [free_port() for _ in range(caches)]
    peer_ports = [free_port() for _ in range(caches)]  # members reach each other here
    peers = [f"http://127.0.0.1:{p}" for p in peer_ports]
    for i, (port, peer_port) in enumerate(zip(ports, peer_ports, strict=True), 1):
        argv = cacheserver_argv(port=port, peer_port=peer_port, origin=f"http://{cas}", peers=peers)
        stack.start(f"cacheserver{i}", argv, f"http://127.0.0.1:{port}")
    return cas, ports


def load_test(args: argparse.Namespace, run_dir: Path, cas: str, ports: list[int],
              extra: list[str]) -> int:  # fmt: skip
    """Run loadclient (run, or capacity) against the first member; return its exit code."""
    report_html = run_dir / ("capacity.html" if args.capacity else "report.html")
    schedule = (
        ["capacity", "--max-p99", "50ms"]
        if args.capacity
        else ["run", "--rate", args.rate, "--duration", args.duration]
    )
    cmd = [
        PYTHON, "-m", "loadclient", *schedule,
        "--cas", f"http://{cas}", "--cache", f"http://127.0.0.1:{ports[0]}",
        "--size", str(args.size), "--html", str(report_html),
        # A broken stack must not look like a passing run; later flags override.
        "--max-error-rate", "0.01", *extra,
    ]  # fmt: skip
    print(f"stack: {' '.join(cmd)}", file=sys.stderr)
    # Ctrl-C reaches loadclient too (same terminal); it stops and prints a partial report.
    # A handler, not SIG_IGN: an ignored SIGINT would be inherited and loadclient deaf to it.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        code = subprocess.call(cmd)
    finally:
        signal.signal(signal.SIGINT, previous)
    if report_html.exists():
        print(f"stack: HTML report at {report_html}", file=sys.stderr)
    for i, port in enumerate(ports, 1):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
                (run_dir / f"cacheserver{i}-stats.json").write_bytes(r.read())
        except OSError as exc:
            print(f"stack: no /stats from cacheserver{i}: {exc}", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    """Start the stack, load-test it, stop it; return loadclient's exit code."""
    args, loadclient_args = parse_args(argv)
    run_dir = args.run_dir or ROOT / "run" / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"stack: logs in {run_dir}", file=sys.stderr)
    stack = Stack(run_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        cas, ports = start_servers(stack, run_dir, args.caches)
        code = load_test(args, run_dir, cas, ports, loadclient_args)
        if args.keep:
            caches = ",".join(f"http://127.0.0.1:{p}" for p in ports)
            print(f"stack: casserver http://{cas}, caches {caches}; Ctrl-C stops", file=sys.stderr)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass  # the way out of --keep, not an interruption of the run
        return code
    except KeyboardInterrupt:
        print("\nstack: interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
