"""A request line that never ends, sent to a member's peer port: memory and hits stay bounded.

Run by ``scripts/peer-flood.sh`` (60 s by default) and, shortened, by
tests/integration/cacheserver/test_peer_flood.py. One casserver and one member start on
loopback; a 25 KB blob is made a hit. Then --attackers threads each connect to the peer
port, send ``GET /_groupcache/cas/`` and a steady stream of ``a`` until the member closes
the connection, and reconnect at once, for --duration-s. Meanwhile a prober asks for the
hit on the client port and on the peer port in turn. Printed as JSON: the member's RSS
(whole process group) idle, at most and after, and the probes' latencies before and during.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from tests.tier import Tier, group_rss_bytes, running

MIB = 1 << 20
ATTACK_LINE = b"GET /_groupcache/cas/"
ATTACK_CHUNK = b"a" * 4096


@dataclass
class Attack:
    """Attack is the flood's own account: connections made and bytes the member took."""

    connections: int = 0
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def flood(self, host: str, port: int, stop: threading.Event) -> None:
        """Flood connects and streams the endless request line until stop, reconnecting."""
        while not stop.is_set():  # each pass ends when the member closes, or at stop
            sent = 0
            try:
                with socket.create_connection((host, port), timeout=2) as sock:
                    sock.sendall(ATTACK_LINE)
                    while not stop.is_set():
                        sent += sock.send(ATTACK_CHUNK)
            except OSError:  # closed or reset by the member: as it should
                time.sleep(0.001)  # a refused connect must not spin a core
            with self.lock:
                self.connections += 1
                self.bytes_sent += sent


@dataclass
class Probes:
    """Probes are hit latencies (ms) on each port and every answer that was not the blob."""

    client_ms: list[float] = field(default_factory=list)
    peer_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"failures": len(self.failures)}
        for name, values in (("client", self.client_ms), ("peer", self.peer_ms)):
            ordered = sorted(values) or [float("nan")]
            out[f"{name}_n"] = len(values)
            out[f"{name}_p50_ms"] = round(statistics.median(ordered), 2)
            out[f"{name}_p99_ms"] = round(
                ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)], 2
            )
            out[f"{name}_max_ms"] = round(ordered[-1], 2)
        return out


def probe(urls: dict[str, str], data: bytes, stop: threading.Event, every_s: float) -> Probes:
    """Probe asks each url for the hit in turn every every_s until stop; it returns the times."""
    probes = Probes()
    sessions = {name: requests.Session() for name in urls}
    while not stop.wait(every_s):  # bounded by stop
        for name, url in urls.items():
            began = time.perf_counter()
            try:
                resp = sessions[name].get(url, timeout=5)
                ok = resp.status_code == 200 and resp.content == data
                what = f"{name}: {resp.status_code}, {len(resp.content)} bytes"
            except requests.RequestException as ex:
                ok, what = False, f"{name}: {type(ex).__name__}"
            (probes.client_ms if name == "client" else probes.peer_ms).append(
                (time.perf_counter() - began) * 1000
            )
            if not ok:
                probes.failures.append(what)
    return probes


@dataclass(frozen=True)
class Figures:
    """Figures are one flood's outcome."""

    duration_s: float
    attackers: int
    rss_idle_mib: float
    rss_max_mib: float
    rss_after_mib: float
    connections: int
    bytes_sent: int
    before: dict[str, float | int]
    during: dict[str, float | int]

    @property
    def growth_mib(self) -> float:
        """Growth_mib is how far the member's RSS rose above idle at most."""
        return self.rss_max_mib - self.rss_idle_mib


@contextmanager
def member(workdir: Path) -> Iterator[tuple[Tier, bytes]]:
    """Member starts a casserver and one member and makes a 25 KB blob a hit there."""
    with running(Tier(workdir, n=1, origin_workers=1)) as tier:
        data = os.urandom(25_000)
        digest = hashlib.sha256(data).hexdigest()
        resp = requests.put(f"{tier.origin_url}/cas/{digest}", data=data, timeout=30)
        assert resp.status_code in (200, 201), resp.text
        for _ in range(2):  # a miss, then a hit
            assert requests.get(f"{tier.urls[0]}/cas/{digest}", timeout=30).content == data
        yield tier, data


def flood(tier: Tier, data: bytes, duration_s: float, attackers: int) -> Figures:
    """Flood runs the attack against tier's member for duration_s and measures it."""
    digest = hashlib.sha256(data).hexdigest()
    urls = {
        "client": f"{tier.urls[0]}/cas/{digest}",
        "peer": f"{tier.peer_urls[0]}/_groupcache/cas/{digest}",
    }
    proc = tier.members[0]
    baseline_stop = threading.Event()
    timer = threading.Timer(2.0, baseline_stop.set)
    timer.start()
    before = probe(urls, data, baseline_stop, 0.05)
    idle = group_rss_bytes(proc)

    attack, stop = Attack(), threading.Event()
    port = tier.peer_ports[0]
    threads = [
        threading.Thread(target=attack.flood, args=(tier.host, port, stop), daemon=True)
        for _ in range(attackers)
    ]
    during: list[Probes] = []
    prober = threading.Thread(target=lambda: during.append(probe(urls, data, stop, 0.05)))
    for t in [*threads, prober]:
        t.start()
    peak = idle
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:  # bounded by the duration
        peak = max(peak, group_rss_bytes(proc))
        time.sleep(0.2)
    stop.set()
    for t in [*threads, prober]:
        t.join(10)
    time.sleep(1.0)
    after = group_rss_bytes(proc)
    return Figures(
        duration_s, attackers, round(idle / MIB, 1), round(peak / MIB, 1), round(after / MIB, 1),
        attack.connections, attack.bytes_sent, before.summary(), during[0].summary(),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--duration-s", type=float, default=60.0)
    p.add_argument("--attackers", type=int, default=2)
    p.add_argument("--bound-mib", type=float, default=20.0, help="RSS growth allowed")
    a = p.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="peerflood-") as work,
        member(Path(work)) as (tier, data),
    ):
        figures = flood(tier, data, a.duration_s, a.attackers)
    print(json.dumps({**asdict(figures), "growth_mib": round(figures.growth_mib, 1)}, indent=2))
    ok = figures.growth_mib < a.bound_mib and figures.during["failures"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
