"""The plan: what one attacking process is told to do (where, which blobs, how fast, how long)."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadclient.durations import NS_PER_S, Rate
from loadclient.stages import Stage
from loadclient.stoprule import StopRule
from loadclient.timer import PRECISE


@dataclass(frozen=True)
class Plan:
    """Plan is everything one process needs to attack: picklable, so workers get a copy."""

    host: str
    port: int
    hot: bytes
    hot_digest: str
    rate: Rate
    duration_ns: int
    timeout_ns: int = 30 * NS_PER_S
    connections: int = 16
    max_connections: int = 10_000
    miss_ratio: float = 0.0
    miss_digests: tuple[str, ...] = field(default=(), repr=False)
    worker: int = 0
    workers: int = 1
    timer: str = PRECISE
    key_digests: tuple[str, ...] = field(default=(), repr=False)  # --keys: GET these only
    distribution: str = "uniform"  # of the keys' popularity: uniform, zipf or zipf:S
    seed: str = ""
    shard: int = 0  # this generator's part of a schedule split over `shards` generators
    shards: int = 1
    stages: tuple[Stage, ...] = ()  # --stages: ramps instead of the constant rate
    stop_rule: StopRule | None = None  # capacity: stop a step once its result is decided
    live: bool = False  # --metrics-addr with workers: each sends snapshots to the parent

    @property
    def authority(self) -> str:
        """Authority is host:port as a URL and the Host header write it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Base_url is the scheme, host and port requests go to."""
        return f"http://{self.authority}"


def request_bytes(plan: Plan, digest: str, method: str = "GET") -> bytes:
    """Request_bytes is the raw HTTP/1.1 request (a GET by default) for one blob."""
    return (
        f"{method} /cas/{digest} HTTP/1.1\r\nHost: {plan.authority}\r\n"
        "User-Agent: loadclient\r\nAccept: */*\r\n\r\n"
    ).encode("ascii")
