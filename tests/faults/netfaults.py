"""A cache tier in real network namespaces under network faults: black holes, loss, cut ports.

Five namespaces on one bridge (tests/faults/netns.py): the origin (casserver), members
m1-m3 and a client. The client sends GETs at a fixed rate, Zipf over a set of 25 KB
blobs, through m1 and m2 only (so a fault on m3 or the origin is never on a client's
connection); each phase injects one fault for its length and heals it at its end.
Latency counts from when each request was due, so queueing cannot hide.

    .venv/bin/python -m tests.faults.netfaults            # the issue's 60 s measurement
    .venv/bin/python -m tests.faults.netfaults --help

The CI test (tests/integration/faults/test_netns.py) runs a short version of it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cacheserver.ring import Ring
from tests.faults import netns
from tests.support import PYTHON, ServerProcess, cacheserver_argv

MEMBERS = ("m1", "m2", "m3")
NAMES = ("origin", *MEMBERS, "client")
PORT, PEER_PORT, ORIGIN_PORT = 18001, 18002, 5000
REQUEST_TIMEOUT_S = 10.0
FAULTY = "m3"  # the member the clients never connect to
FAULTS = ("none", "member-blackhole", "member-lossy", "member-cut", "origin-blackhole")


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings are one run's load, its phases and the tier's memory."""

    rate: int = 400
    keys: int = 300
    size: int = 25_000
    zipf_s: float = 1.0
    phase_s: float = 20.0
    settle_s: float = 5.0  # after each fault, before the next phase
    phases: tuple[str, ...] = FAULTS
    loss: float = 0.2
    workdir: Path | None = None
    # The tier: each member's memory and further environment (its threads are the default).
    cache_bytes: int = 16 << 20
    member_env: tuple[tuple[str, str], ...] = ()
    threads: int = 256  # the client's, which sends each GET on time however slow answers are


@dataclass(frozen=True, slots=True)
class Result:
    """Result is one GET: when it was due (s into the run), how long, what came back."""

    due_s: float
    latency_s: float
    status: int
    key: int
    via: str
    x_cache: str
    retry_after: bool
    detail: str = ""  # a failure's problem detail


@dataclass
class Phase:
    """Phase is one fault's window in the run and what happened in it."""

    name: str
    start_s: float
    end_s: float
    recovered_s: float | None = None
    results: list[Result] = field(default_factory=list)


def quantile(values: list[float], q: float) -> float:
    """Quantile is the q-quantile of values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class NetTier:
    """NetTier is the origin and three members, each in its namespace, and their blobs."""

    def __init__(self, net: netns.Net, workdir: Path, s: Settings) -> None:
        self.net, self.workdir, self.s = net, workdir, s
        self.peer_urls = [f"http://{net.addr(m)}:{PEER_PORT}" for m in MEMBERS]
        self.urls = {m: f"http://{net.addr(m)}:{PORT}" for m in MEMBERS}
        self.origin_url = f"http://{net.addr('origin')}:{ORIGIN_PORT}"
        self.procs: list[ServerProcess] = []
        self.blobs: list[tuple[str, bytes]] = []
        ring = Ring(self.peer_urls)
        self.digests: list[str] = []
        self.owners: list[str] = []
        for i in range(s.keys):
            data = hashlib.sha256(f"netfaults-{i}".encode()).digest() * (s.size // 32 + 1)
            data = data[: s.size]
            digest = hashlib.sha256(data).hexdigest()
            self.blobs.append((digest, data))
            self.digests.append(digest)
            self.owners.append(MEMBERS[self.peer_urls.index(ring.owner(digest) or "")])

    def _start(self, name: str, argv: list[str], url: str, env: dict[str, str]) -> None:
        proc = ServerProcess(
            self.net.exec_argv(name, argv), base_url=url, env=env,
            log_path=self.workdir / f"{name}.log",
        )  # fmt: skip
        self.procs.append(proc)
        # Started from a thread inside the client's namespace: its health polls are too.
        netns.run_in(self.net.ns("client"), lambda: proc.start(deadline_s=60))

    def start(self) -> None:
        """Start runs casserver and the members and uploads the blobs."""
        addr = self.net.addr("origin")
        self._start("origin", [PYTHON, "-m", "casserver", "--host", addr, "--port",
                     str(ORIGIN_PORT), "--storage", str(self.workdir / "cas"), "--workers", "2"],
                    self.origin_url, {"TMPDIR": str(self.workdir)})  # fmt: skip
        env = {"CACHE_BYTES": str(self.s.cache_bytes), "LOG_LEVEL": "WARNING",
               **dict(self.s.member_env)}  # fmt: skip
        starters = []
        for m in MEMBERS:
            argv = cacheserver_argv(port=PORT, peer_port=PEER_PORT, origin=self.origin_url,
                                    peers=self.peer_urls, host=self.net.addr(m))  # fmt: skip
            starters.append(threading.Thread(target=self._start, args=(m, argv, self.urls[m], env)))
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        netns.run_in(self.net.ns("client"), self._upload)

    def _upload(self) -> None:
        conn = http.client.HTTPConnection(self.net.addr("origin"), ORIGIN_PORT, timeout=30)
        for digest, data in self.blobs:
            conn.request("PUT", f"/cas/{digest}", body=data)
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 201):
                raise RuntimeError(f"upload {digest}: {resp.status}")
        conn.close()

    def peer_up(self, member: str, peer: str) -> bool:
        """Peer_up reads member's metric of peer's health (from the client's namespace)."""
        url = f"http://{self.net.addr(peer)}:{PEER_PORT}"
        conn = http.client.HTTPConnection(self.net.addr(member), PORT, timeout=2)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        except OSError:
            return False
        finally:
            conn.close()
        line = f'cacheserver_upstream_up{{upstream="{url}"}} '
        return any(ln.startswith(line) and ln.endswith(" 1.0") for ln in text.splitlines())

    def stop(self) -> None:
        """Stop stops every process."""
        for proc in reversed(self.procs):
            proc.stop()


class Attack:
    """Attack sends GETs at a fixed rate from the client's namespace and records each."""

    def __init__(self, tier: NetTier, s: Settings) -> None:
        self.tier, self.s = tier, s
        weights = [1 / (i + 1) ** s.zipf_s for i in range(s.keys)]
        self._keys = random.Random(16).choices(range(s.keys), weights, k=int(s.rate * 600))
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        client = tier.net.ns("client")
        self._pool = ThreadPoolExecutor(s.threads, initializer=netns.enter, initargs=(client,))

    def _conn(self, via: str) -> http.client.HTTPConnection:
        conns: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        if via not in conns:
            addr = self.tier.net.addr(via)
            conns[via] = http.client.HTTPConnection(addr, PORT, timeout=REQUEST_TIMEOUT_S)
            with self._lock:
                self._opened.append(conns[via])
        return conns[via]

    def _get(self, t0: float, due: float, key: int, via: str) -> None:
        conn = self._conn(via)
        status, x_cache, retry_after, detail = 0, "", False, ""
        try:
            conn.request("GET", f"/cas/{self.tier.digests[key]}")
            resp = conn.getresponse()
            body = resp.read()
            status, x_cache = resp.status, resp.getheader("X-Cache", "")
            retry_after = resp.getheader("Retry-After") is not None
            if status == 200 and hashlib.sha256(body).hexdigest() != self.tier.digests[key]:
                status = -1  # wrong bytes: never acceptable
            if status != 200:
                detail = body[:200].decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as ex:
            conn.close()
            detail = type(ex).__name__
        latency = time.monotonic() - due
        with self._lock:
            self.results.append(
                Result(due - t0, latency, status, key, via, x_cache, retry_after, detail)
            )

    def run(self, duration_s: float, t0: float, on_tick: Callable[[float], None]) -> None:
        """Run sends for duration_s from t0, calling on_tick(elapsed) between sends."""
        vias = ("m1", "m2")
        for i in range(int(duration_s * self.s.rate)):
            due = t0 + i / self.s.rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.005))
            on_tick(now - t0)
            key = self._keys[i % len(self._keys)]
            self._pool.submit(self._get, t0, due, key, vias[i % 2])
        self._pool.shutdown(wait=True)
        for conn in self._opened:
            conn.close()


@contextmanager
def tier_in_namespaces(s: Settings) -> Iterator[NetTier]:
    """Tier_in_namespaces makes the namespaces and the tier, and removes both after."""
    workdir = s.workdir or Path(tempfile.mkdtemp(prefix="cas16-"))
    workdir.mkdir(parents=True, exist_ok=True)
    net = netns.Net(NAMES).up()
    tier = NetTier(net, workdir, s)
    try:
        tier.start()
        yield tier
    finally:
        tier.stop()
        net.down()


def inject(net: netns.Net, fault: str, s: Settings) -> None:
    """Inject starts one fault (on m3 or on the origin)."""
    if fault == "member-blackhole":
        net.blackhole(FAULTY)
    elif fault == "member-lossy":
        net.lossy(FAULTY, s.loss)
    elif fault == "member-cut":
        net.cut_ports(FAULTY, [PEER_PORT])
    elif fault == "origin-blackhole":
        net.blackhole("origin")


def heal(net: netns.Net, fault: str) -> None:
    """Heal ends a fault."""
    if fault.startswith("member"):
        net.heal(FAULTY)
    elif fault == "origin-blackhole":
        net.heal("origin")


def run(s: Settings) -> tuple[NetTier, list[Phase]]:
    """Run runs every phase on one tier; it returns the tier's keys and each phase's results."""
    with tier_in_namespaces(s) as tier:
        warm_s = s.settle_s
        plan: list[Phase] = []
        at = warm_s
        for name in s.phases:
            plan.append(Phase(name, at, at + s.phase_s))
            at += s.phase_s + s.settle_s
        state = {"active": -1, "healed": -1}
        healed_at: dict[int, float] = {}

        def on_tick(elapsed: float) -> None:
            for i, phase in enumerate(plan):
                if state["active"] < i and elapsed >= phase.start_s:
                    state["active"] = i
                    inject(tier.net, phase.name, s)
                if state["healed"] < i and elapsed >= phase.end_s:
                    state["healed"] = i
                    heal(tier.net, phase.name)
                    healed_at[i] = time.monotonic()

        attack = Attack(tier, s)
        t0 = time.monotonic()
        watcher = threading.Thread(target=_watch_recovery, args=(tier, plan, healed_at, t0))
        watcher.start()
        attack.run(at, t0, on_tick)
        watcher.join()
        for phase in plan:
            # A fault's window, and the settle time after it: its tail belongs to it.
            phase.results = [
                r for r in attack.results if phase.start_s <= r.due_s < phase.end_s + s.settle_s
            ]
        baseline = Phase("baseline", 0.0, warm_s)
        baseline.results = [r for r in attack.results if r.due_s < warm_s]
        return tier, [baseline, *plan]


def _watch_recovery(
    tier: NetTier, plan: list[Phase], healed_at: dict[int, float], t0: float
) -> None:
    """_watch_recovery times, for each member fault, how long until m1 uses m3 again."""

    def watch() -> None:
        for i, phase in enumerate(plan):
            deadline = t0 + phase.end_s + 30
            while i not in healed_at and time.monotonic() < deadline:
                time.sleep(0.02)
            if i not in healed_at or not phase.name.startswith("member"):
                continue
            while time.monotonic() < healed_at[i] + 10:
                if tier.peer_up("m1", FAULTY) and tier.peer_up("m2", FAULTY):
                    phase.recovered_s = time.monotonic() - healed_at[i]
                    break
                time.sleep(0.05)

    netns.run_in(tier.net.ns("client"), watch)


@dataclass(frozen=True)
class Summary:
    """Summary is one phase's figures as the issue's table gives them."""

    name: str
    requests: int
    failed: int
    p99_s: float
    max_s: float
    faulty_requests: int
    faulty_failed: int
    faulty_p99_s: float
    faulty_max_s: float
    healthy_failed: int  # owner and origin healthy
    failures_over_2s: int
    failures_without_retry_after: int
    recovered_s: float | None
    # (status, owner, via, latency s, detail) of the first few failures
    failures: tuple[tuple[int, str, str, float, str], ...] = ()

    def row(self) -> str:
        rec = "-" if self.recovered_s is None else f"{self.recovered_s:.2f}"
        share = self.failed / self.requests if self.requests else 0.0
        return (
            f"| {self.name} | {self.requests} | {self.failed} ({share:.3%}) | {self.p99_s:.3f} | "
            f"{self.max_s:.3f} | {self.faulty_requests} | {self.faulty_failed} | "
            f"{self.faulty_p99_s:.3f} | {self.faulty_max_s:.3f} | {self.healthy_failed} | {rec} |"
        )


HEADER = (
    "| phase | requests | failed | p99 s | max s | m3-owned | m3-owned failed | m3-owned p99 s "
    "| m3-owned max s | failed, owner+origin healthy | recovered after s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def summarize(tier: NetTier, phase: Phase) -> Summary:
    """Summarize reduces one phase's results to its Summary."""
    rs = phase.results
    failed = [r for r in rs if r.status != 200]
    faulty = [r for r in rs if tier.owners[r.key] == FAULTY]
    origin_down = phase.name == "origin-blackhole"
    healthy = [r for r in rs if tier.owners[r.key] != FAULTY and not origin_down]
    if phase.name in ("none", "baseline"):
        healthy = rs
    return Summary(
        phase.name, len(rs), len(failed),
        quantile([r.latency_s for r in rs], 0.99), max((r.latency_s for r in rs), default=0.0),
        len(faulty), sum(r.status != 200 for r in faulty),
        quantile([r.latency_s for r in faulty], 0.99),
        max((r.latency_s for r in faulty), default=0.0),
        sum(r.status != 200 for r in healthy),
        sum(r.latency_s > 2.0 for r in failed),
        sum(not r.retry_after for r in failed),
        phase.recovered_s,
        tuple(
            (r.status, tier.owners[r.key], r.via, round(r.latency_s, 3), r.detail)
            for r in failed[:10]
        ),
    )  # fmt: skip


def parse_args(argv: list[str]) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(prog="tests.faults.netfaults", description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=d.rate, help="GETs per second")
    p.add_argument("--keys", type=int, default=d.keys, help="distinct blobs")
    p.add_argument("--size", type=int, default=d.size, help="blob bytes")
    p.add_argument("--phase", type=float, default=d.phase_s, help="seconds each fault lasts")
    p.add_argument("--settle", type=float, default=d.settle_s, help="seconds between faults")
    p.add_argument("--phases", default=",".join(d.phases), help=f"of {','.join(FAULTS)}")
    p.add_argument("--cache-bytes", type=int, default=d.cache_bytes, help="each member's")
    p.add_argument("--workdir", type=Path, help="logs (default: a temp dir)")
    p.add_argument("--output", type=Path, help="write the summaries as JSON here")
    a = p.parse_args(argv)
    phases = tuple(x for x in a.phases.split(",") if x)
    return Settings(rate=a.rate, keys=a.keys, size=a.size, phase_s=a.phase, settle_s=a.settle,
                    phases=phases, cache_bytes=a.cache_bytes, workdir=a.workdir)  # fmt: skip


def main() -> int:
    s = parse_args(sys.argv[1:])
    reason = netns.unavailable()
    if reason is not None:
        print(f"netfaults: skipped: {reason}")
        return 0
    tier, phases = run(s)
    summaries = [summarize(tier, p) for p in phases]
    print(HEADER)
    for summary in summaries:
        print(summary.row())
    for summary in summaries:
        if summary.failures:
            print(f"{summary.name}: first failures (status, owner, via, s, detail):")
            for failure in summary.failures:
                print(f"  {failure}")
    hits = sum(r.x_cache == "hit" for p in phases for r in p.results)
    total = sum(len(p.results) for p in phases)
    print(f"hits {hits}/{total}; members' CACHE_BYTES {s.cache_bytes}")
    output = sys.argv[sys.argv.index("--output") + 1] if "--output" in sys.argv else None
    if output:
        Path(output).write_text(json.dumps([vars(x) for x in summaries], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
