"""The metrics listener: /metrics in the Prometheus text format, a 404 problem for the rest."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from prometheus_client import CollectorRegistry, Counter

from cascommon import metricsport
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


def test_a_trickling_scraper_is_cut_at_the_deadline(
    port: MetricsPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metricsport, "TIMEOUT_S", 0.5)
    with socket.create_connection(("127.0.0.1", port.port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n")
        cut = False
        for _ in range(50):  # a header line every 0.2 s, each read well within any timeout
            try:
                s.sendall(b"X-Slow: 1\r\n")
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    cut = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                cut = True
                break
            time.sleep(0.2)
        assert cut, "the connection outlived its deadline"
