"""CACHE_METRICS_PORT: /metrics moves from the client port to a port of its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cacheserver.conftest import CacheCluster
from tests.support import free_port

GETS = 5


def samples(url: str) -> dict[str, float]:
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 200, resp.text
    return {
        s.name: float(s.value)
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
        if not s.labels
    }


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_metrics_move_to_the_metrics_port(
    cache_cluster: Callable[..., CacheCluster], server: str
) -> None:
    metrics_port = free_port()
    cluster = cache_cluster(n=1, server=server, env={"CACHE_METRICS_PORT": str(metrics_port)})
    digest = cluster.put(b"cached and counted" * 100)
    for _ in range(GETS):
        assert cluster.get(0, digest).status_code == 200

    values = samples(f"http://127.0.0.1:{metrics_port}/metrics")
    assert values["cacheserver_gets_total"] == GETS
    assert values["cacheserver_local_loads_total"] == 1  # the same process's cache

    main = requests.get(f"{cluster.urls[0]}/metrics", timeout=5)
    assert main.status_code == 404
    assert main.headers["Content-Type"] == "application/problem+json"
    elsewhere = requests.get(f"http://127.0.0.1:{metrics_port}/stats", timeout=5)
    assert elsewhere.status_code == 404


def test_unset_keeps_metrics_on_the_client_port(
    cache_cluster: Callable[..., CacheCluster],
) -> None:
    cluster = cache_cluster(n=1)
    digest = cluster.put(b"counted on the client port")
    assert cluster.get(0, digest).status_code == 200
    assert samples(f"{cluster.urls[0]}/metrics")["cacheserver_gets_total"] == 1
