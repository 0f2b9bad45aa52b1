"""Run the whole stack on this machine: casserver, N cacheservers, then a load test.

Started by scripts/run. Every server runs as a real process on a free loopback port
with its JSON log in the run directory; the load client's Vegeta-format JSON report
goes to stdout. Servers are stopped with SIGTERM (then SIGKILL) however this exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """Stack owns the server processes it started and stops them all."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], health_url: str) -> None:
        log = open(self.run_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env},
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.procs.append((name, proc))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.run_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                sys.exit(f"{name} exited with {proc.returncode} while starting:\n{tail}")
            try:
                with urllib.request.urlopen(health_url, timeout=1) as r:
                    if r.status == 200:
                        print(f"stack: {name} is up at {health_url}", file=sys.stderr)
                        return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit(f"{name} did not become healthy at {health_url} within 30 s")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                print(f"stack: {name} ignored SIGTERM, killing it", file=sys.stderr)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog="scripts/run",
        description="Start casserver and a cacheserver ring on loopback, upload a blob, "
        "load-test cached GETs and print the Vegeta-format JSON report. "
        "Arguments after -- go to `loadclient run`.",
    )
    p.add_argument("--caches", type=int, default=3, help="cacheserver ring members (default 3)")
    p.add_argument("--rate", default="200/1s", help="GET rate (default 200/1s)")
    p.add_argument("--duration", default="10s", help="attack duration (default 10s)")
    p.add_argument("--size", type=int, default=25000, help="blob size in bytes (default 25000)")
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


def main(argv: list[str]) -> int:
    args, loadclient_args = parse_args(argv)
    run_dir = args.run_dir or ROOT / "run" / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"stack: logs in {run_dir}", file=sys.stderr)
    stack = Stack(run_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        cas_port = free_port()
        cas = f"127.0.0.1:{cas_port}"
        stack.start(
            "casserver",
            [str(BIN / "casserver"), "--host", "127.0.0.1", "--port", str(cas_port),
             "--storage", str(run_dir / "cas-data"), "--workers", "2"],
            {},
            f"http://{cas}/healthz",
        )  # fmt: skip
        ports = [free_port() for _ in range(args.caches)]
        peer_ports = [free_port() for _ in range(args.caches)]  # members reach each other here
        peers = ",".join(f"http://127.0.0.1:{p}" for p in peer_ports)
        for i, (port, peer_port) in enumerate(zip(ports, peer_ports, strict=True), 1):
            env = {
                "CACHE_HOST": "127.0.0.1",
                "LISTEN_PORT": str(port),
                "CACHE_PEER_PORT": str(peer_port),
                "CAS_SERVER_ADDR": cas,
                "CACHE_PEERS": peers,
                "CACHE_SELF": f"http://127.0.0.1:{peer_port}",
            }
            stack.start(f"cacheserver{i}", [str(BIN / "cacheserver")], env,
                        f"http://127.0.0.1:{port}/healthz")  # fmt: skip
        report_html = run_dir / ("capacity.html" if args.capacity else "report.html")
        schedule = (
            ["capacity", "--max-p99", "50ms"]
            if args.capacity
            else ["run", "--rate", args.rate, "--duration", args.duration]
        )
        cmd = [
            str(BIN / "loadclient"), schedule[0], *schedule[1:],
            "--cas", f"http://{cas}", "--cache", f"http://127.0.0.1:{ports[0]}",
            "--size", str(args.size), "--html", str(report_html),
            # A broken stack must not look like a passing run; later flags override.
            "--max-error-rate", "0.01", *loadclient_args,
        ]  # fmt: skip
        print(f"stack: {' '.join(cmd)}", file=sys.stderr)
        code = subprocess.call(cmd)
        print(f"stack: HTML report at {report_html}", file=sys.stderr)
        for i, port in enumerate(ports, 1):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
                (run_dir / f"cacheserver{i}-stats.json").write_bytes(r.read())
        if args.keep:
            caches = ",".join(f"http://127.0.0.1:{p}" for p in ports)
            print(f"stack: casserver http://{cas}, caches {caches}; Ctrl-C stops", file=sys.stderr)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
        return code
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
