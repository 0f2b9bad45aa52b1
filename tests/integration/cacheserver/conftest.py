"""A ring of real cacheserver processes in front of a real casserver, on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cacheserver.ring import Ring
from cascommon.digest import sha256_hex
from tests.conftest import Spawn
from tests.support import ServerProcess, cacheserver_argv, free_port
from tests.tier import origin_gets

# Short timeouts and backoff keep failure tests fast; they are what the tests bound.
MEMBER_ENV: Mapping[str, str] = {
    "CACHE_PEER_TIMEOUT_S": "2",
    "CACHE_ORIGIN_TIMEOUT_S": "2",
    "CACHE_PEER_BACKOFF_S": "1",
    "CACHE_NEGATIVE_TTL_S": "1",
    "LOG_LEVEL": "INFO",
}


@dataclass
class CacheCluster:
    """CacheCluster is one origin and a ring of cacheserver members."""

    origin: ServerProcess
    members: list[ServerProcess]
    restart: Callable[[int], ServerProcess]
    peer_urls: list[str]  # each member's peer listener, in the order of members
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def urls(self) -> list[str]:
        return [m.base_url for m in self.members]

    def owner(self, digest: str) -> int:
        """Owner is the index of the member that owns digest, by the same ring."""
        return self.peer_urls.index(Ring(self.peer_urls).owner(digest) or "")

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        resp = self.session.put(f"{self.origin.base_url}/cas/{digest}", data=data, timeout=10)
        assert resp.status_code in (200, 201), resp.text
        return digest

    def get(self, member: int, digest: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.members[member].base_url}/cas/{digest}", timeout=10, **kwargs)

    def stats(self, member: int) -> dict[str, Any]:
        resp = requests.get(f"{self.members[member].base_url}/stats", timeout=5)
        resp.raise_for_status()
        result: dict[str, Any] = resp.json()
        return result

    def total(self, name: str) -> int:
        return sum(self.stats(i)[name] for i in range(len(self.members)))

    def metric(self, member: int, name: str) -> float:
        """Metric is the value of one unlabelled sample on a member's /metrics."""
        text = requests.get(f"{self.members[member].base_url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        raise KeyError(name)

    def origin_gets(self, at_least: int = 0, deadline_s: float = 10.0) -> int:
        """Origin_gets counts casserver's successful GET /cas/{digest} answers.

        at_least: first wait (deadline_s at most) until the count reaches it. casserver's
        fast path writes its counts after its event-loop pass, so a scrape its other worker
        answers can lag an answer a member has already passed on (a loaded machine).
        """
        deadline = time.monotonic() + deadline_s
        count = origin_gets(self.origin.base_url)
        while count < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
            count = origin_gets(self.origin.base_url)
        return count


def start_all(procs: list[ServerProcess]) -> None:
    """Start_all starts servers in parallel: each waits for its own health check."""
    errors: list[BaseException] = []

    def start(proc: ServerProcess) -> None:
        try:
            proc.start(deadline_s=30)
        except BaseException as ex:  # noqa: BLE001 - re-raised below
            errors.append(ex)

    threads = [threading.Thread(target=start, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def cache_cluster(
    spawn: Spawn, casserver: Callable[..., ServerProcess]
) -> Callable[..., CacheCluster]:
    """Cache_cluster starts a casserver and n cacheservers under the given WSGI server."""

    def _start(
        *,
        n: int = 3,
        server: str = "granian",
        origin_url: str | None = None,
        threads: int = 8,
        env: Mapping[str, str] | None = None,
        origin_env: Mapping[str, str] | None = None,
    ) -> CacheCluster:
        origin = casserver(workers=2, env=origin_env)
        ports = [free_port() for _ in range(n)]
        peer_ports = [free_port() for _ in range(n)]
        peer_urls = [f"http://127.0.0.1:{p}" for p in peer_ports]

        def member(i: int) -> ServerProcess:
            argv = cacheserver_argv(
                port=ports[i], peer_port=peer_ports[i], origin=origin_url or origin.base_url,
                peers=peer_urls, extra=["--server", server, "--threads", str(threads)],
            )  # fmt: skip
            member_env = {**MEMBER_ENV, **(env or {})}
            url = f"http://127.0.0.1:{ports[i]}"
            return spawn(argv, base_url=url, env=member_env, name=f"cache{i}", start=False)

        members = [member(i) for i in range(n)]
        start_all(members)

        def restart(i: int) -> ServerProcess:
            members[i] = member(i)
            members[i].start(deadline_s=30)
            return members[i]

        return CacheCluster(origin, members, restart, peer_urls)

    return _start
