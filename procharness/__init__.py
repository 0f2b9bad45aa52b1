"""The one process harness for tests, benchmarks and scripts.

A server runs in its own process group with its output in a log file; it is ready when
its health URL answers 200 before a deadline; it stops with SIGTERM to the whole group,
then SIGKILL. Installed with the project (``pip install -e .``), so ``scripts/stack.py``,
``bench/`` and ``tests/`` import it without editing ``sys.path``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

PYTHON = sys.executable
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

__all__ = [
    "PYTHON", "ServerProcess", "cacheserver_argv", "child_groups", "end_groups", "free_port",
    "group_members", "running",
]  # fmt: skip
# How long a stopped server's other processes (workers, the evictor) get to end after it.
GROUP_EXIT_S = 5.0


class _HandedOut:
    """The ports free_port returned lately in this process, so that it never repeats one.

    A port is free only until something binds it, and a test picks a ring's ports (six
    for three members) before any member starts: the kernel, which picks a random free
    port for each bind to port 0, gave the same one twice to about 1 in 900 such rings,
    and one member then failed to start with its port in use.
    """

    def __init__(self, remembered: int) -> None:
        self.lock = threading.Lock()
        self.ports: deque[int] = deque(maxlen=remembered)


# How many recent ports free_port avoids; a suite starts far fewer servers at a time.
_HANDED_OUT = _HandedOut(remembered=4096)
FREE_PORT_TRIES = 100


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on host right now and not returned lately (see _HandedOut)."""
    with _HANDED_OUT.lock:
        for _ in range(FREE_PORT_TRIES):  # bounded: a repeat is rare (see _HandedOut)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT.ports:
                _HANDED_OUT.ports.append(port)
                return port
    raise RuntimeError(f"no free port on {host} that was not handed out lately")


def cacheserver_argv(
    *,
    port: int,
    peer_port: int,
    origin: str,
    peers: Sequence[str] = (),
    host: str = "127.0.0.1",
    extra: Sequence[str] = (),
) -> list[str]:
    """Return one ring member's command line: client port, peer port, ring.

    peers are the members' peer base URLs (this one's included); empty: a ring of one.
    """
    self_url = f"http://{host}:{peer_port}"
    ring = ["--peers", ",".join(peers), "--self", self_url] if peers else []
    return [
        PYTHON, "-m", "cacheserver", "--host", host, "--port", str(port),
        "--peer-port", str(peer_port), "--origin", origin, *ring, *extra,
    ]  # fmt: skip


def _running() -> Iterator[tuple[int, int, int]]:
    """Yield pid, parent pid and process group of every process that still runs (no zombie)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if len(fields) > 2 and fields[0] != "Z":
            yield int(stat.parent.name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Return the pids of group pgid's processes that still run (a zombie has ended)."""
    return [pid for pid, _, group in _running() if group == pgid]


def child_groups(ppid: int) -> set[int]:
    """Return the process groups of ppid's children, ppid's own group left out."""
    return {group for _, parent, group in _running() if parent == ppid} - {os.getpgid(ppid)}


def end_groups(pgids: set[int], wait_s: float) -> None:
    """SIGTERM every group in pgids, wait up to wait_s for them to end, SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in pgids:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while any(group_members(g) for g in pgids) and time.monotonic() < deadline:
            time.sleep(0.02)


def answers_200(url: str, timeout_s: float = 1.0) -> bool:
    """Say whether url answers 200 now (any error or other status: no)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.HTTPError):
        return False


class ServerProcess:
    """One server in its own process group, logging to a file."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        base_url: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
    ) -> None:
        self.argv = list(argv)
        self.base_url = base_url
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.health_path = health_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = False

    def start(self, deadline_s: float = 20.0) -> ServerProcess:
        """Launch the process and wait until its health route answers 200."""
        self.launch()
        self.wait_healthy(deadline_s)
        return self

    def launch(self) -> subprocess.Popen[bytes]:
        """Launch the process without waiting; its output is appended to the log."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True,  # its own group: SIGINT at a terminal is ours to relay
            )  # fmt: skip
        return self.proc

    def wait_healthy(self, deadline_s: float = 20.0) -> None:
        """Poll the health route until it answers 200; raise if the deadline passes first."""
        deadline = time.monotonic() + deadline_s
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited {self.proc.returncode}:\n{self.log_tail()}")
            if answers_200(url):
                self.ready = True
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} not healthy after {deadline_s}s:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        """Send sig to the server's whole process group (master and workers)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Send SIGTERM, wait up to timeout_s, then SIGKILL; return the exit code.

        It returns once the whole group has ended: a worker or the evictor can outlive
        the server by a moment, and one still there after GROUP_EXIT_S is killed.
        """
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            self._end_group()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the process group, reap the process, and wait (bounded) for the group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._end_group()

    def _end_group(self) -> None:
        assert self.proc is not None
        pgid = self.proc.pid
        for wait_s in (GROUP_EXIT_S, 2.0):  # then after a SIGKILL: bounded either way
            deadline = time.monotonic() + wait_s
            while group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not group_members(pgid):
                return
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                return

    def rss_bytes(self, field: str = "VmRSS") -> int:
        """Return the largest resident size (or VmHWM: peak) of the group's processes."""
        if self.proc is None:
            return 0
        largest = 0
        for pid in group_members(self.proc.pid):  # the server and its workers
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # gone meanwhile
            for line in status.splitlines():
                if line.startswith(field + ":"):
                    largest = max(largest, int(line.split()[1]) * 1024)
        return largest

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines the server wrote."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def running(
    argv: Sequence[str], ready_url: str, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait until ready_url answers 200, yield it, and stop it on exit."""
    base, _, path = ready_url.partition("://")
    host, _, rest = path.partition("/")
    server = ServerProcess(
        argv, base_url=f"{base}://{host}", health_path="/" + rest, log_path=log, env=env
    )
    try:
        server.start(READY_TIMEOUT_S)
        assert server.proc is not None
        yield server.proc
    finally:
        server.stop()
