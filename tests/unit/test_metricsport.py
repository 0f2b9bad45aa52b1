"""The metrics listener: /metrics in the Prometheus text format, a 404 problem for the rest."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from prometheus_client import CollectorRegistry, Counter

from cascommon.metricsport import MetricsPort


@pytest.fixture
def port() -> Iterator[MetricsPort]:
    registry = CollectorRegistry()
    Counter("scraped_things", "Things.", registry=registry).inc(3)
    listener = MetricsPort(registry, "127.0.0.1", 0).start()
    yield listener
    listener.close()


def test_metrics_are_the_registrys(port: MetricsPort) -> None:
    with urlopen(f"http://127.0.0.1:{port.port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "scraped_things_total 3.0" in resp.read().decode()


@pytest.mark.parametrize("path", ["/", "/healthz", "/metricsx", "/cas/abc"])
def test_anything_else_is_a_404_problem(port: MetricsPort, path: str) -> None:
    with pytest.raises(HTTPError) as caught:
        urlopen(f"http://127.0.0.1:{port.port}{path}", timeout=5)
    assert caught.value.code == 404
    assert caught.value.headers["Content-Type"] == "application/problem+json"
    assert json.loads(caught.value.read())["status"] == 404


def test_a_taken_port_fails_at_once(port: MetricsPort) -> None:
    with pytest.raises(OSError):
        MetricsPort(CollectorRegistry(), "127.0.0.1", port.port)


def test_close_releases_the_port() -> None:
    listener = MetricsPort(CollectorRegistry(), "127.0.0.1", 0).start()
    listener.close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", listener.port))
