"""A whole tier as real processes (casserver + a ring of cacheservers) for scripts and tests.

Built on ``procharness.ServerProcess`` (the one process harness), so the fault scripts,
the soak, the system benchmark and the spec checks start servers exactly as tests do.
Members that have a peer listener (``CACHE_PEER_PORT`` in ``cacheserver --help``) get one
and name each other by it; older members name each other by their client port.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import PYTHON, ServerProcess, free_port

HOST = "127.0.0.1"


@functools.cache
def has_peer_port() -> bool:
    """Has_peer_port says whether this cacheserver serves peers on a port of their own."""
    out = subprocess.run(
        [PYTHON, "-m", "cacheserver", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "CACHE_PEER_PORT" in out


@dataclass
class Tier:
    """Tier is one casserver and n cacheserver members, each restartable on its own port."""

    workdir: Path
    n: int = 3
    host: str = HOST
    origin_env: Mapping[str, str] = field(default_factory=dict)
    member_env: Mapping[str, str] = field(default_factory=dict)
    origin_workers: int = 2
    origin: ServerProcess = field(init=False)
    members: list[ServerProcess] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = self.workdir / "cas-data"
        self.origin_port = free_port(self.host)
        self.ports = [free_port(self.host) for _ in range(self.n)]
        self.peer_ports = [free_port(self.host) for _ in range(self.n)] if has_peer_port() else []
        self._starts = 0

    @property
    def origin_url(self) -> str:
        return f"http://{self.host}:{self.origin_port}"

    @property
    def urls(self) -> list[str]:
        """Urls are the members' client base URLs."""
        return [f"http://{self.host}:{p}" for p in self.ports]

    @property
    def peer_urls(self) -> list[str]:
        """Peer_urls are the members' ring names: their peer listeners when they have one."""
        if not self.peer_ports:
            return self.urls
        return [f"http://{self.host}:{p}" for p in self.peer_ports]

    def _log(self, name: str) -> Path:
        self._starts += 1
        return self.workdir / f"{name}-{self._starts}.log"

    def start_origin(self) -> ServerProcess:
        """Start_origin (re)starts casserver on its port and storage and waits until healthy."""
        argv = [
            PYTHON, "-m", "casserver", "--host", self.host, "--port", str(self.origin_port),
            "--storage", str(self.storage), "--workers", str(self.origin_workers),
        ]  # fmt: skip
        self.origin = ServerProcess(
            argv, base_url=self.origin_url, log_path=self._log("casserver"), env=self.origin_env
        )
        return self.origin.start(deadline_s=30)

    def member(self, i: int) -> ServerProcess:
        """Member builds (without starting) member i's process."""
        env = {
            "CACHE_HOST": self.host,
            "LISTEN_PORT": str(self.ports[i]),
            "CAS_SERVER_URL": self.origin_url,
            "CACHE_PEERS": ",".join(self.peer_urls),
            "CACHE_SELF": self.peer_urls[i],
            **({"CACHE_PEER_PORT": str(self.peer_ports[i])} if self.peer_ports else {}),
            **self.member_env,
        }
        argv = [PYTHON, "-m", "cacheserver"]
        return ServerProcess(argv, base_url=self.urls[i], log_path=self._log(f"cache{i}"), env=env)

    def start_member(self, i: int) -> ServerProcess:
        """Start_member (re)starts member i on its ports and waits until healthy."""
        proc = self.member(i)
        if i < len(self.members):
            self.members[i] = proc
        else:
            self.members.append(proc)
        return proc.start(deadline_s=30)

    def start(self) -> Tier:
        """Start starts the origin, then every member."""
        self.start_origin()
        for i in range(self.n):
            self.start_member(i)
        return self

    def stop(self) -> None:
        """Stop stops every process this tier started (SIGCONT first, in case one is frozen)."""
        for proc in [*self.members, getattr(self, "origin", None)]:
            if proc is not None:
                proc.signal(signal.SIGCONT)
                proc.stop()


@contextmanager
def running(tier: Tier) -> Iterator[Tier]:
    """Running starts tier and stops it however the block ends."""
    try:
        yield tier.start()
    finally:
        tier.stop()


def group_rss_bytes(proc: ServerProcess) -> int:
    """Group_rss_bytes sums the resident memory of every process in proc's process group."""
    if proc.proc is None:
        return 0
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                resident_pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # it exited while we looked
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        if int(stat.rsplit(")", 1)[1].split()[2]) == proc.proc.pid:
            total += resident_pages * page
    return total


def origin_gets(origin_url: str) -> int:
    """Origin_gets counts casserver's successful GETs of blobs: the loads caches made."""
    text = requests.get(f"{origin_url}/metrics", timeout=10).text
    want = {"method": "GET", "route": "/cas/{digest}", "status": "2xx"}
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cas_http_requests_total" and want.items() <= sample.labels.items()
    )
