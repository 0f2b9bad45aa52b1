"""CAS_METRICS_PORT: /metrics moves to a port of its own, every worker's samples summed there."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
import requests

from tests.integration.casserver.conftest import SERVERS
from tests.integration.casserver.test_observability import sample
from tests.support import ServerProcess, free_port

GETS = 40
GET_OK = 'cas_http_requests_total{method="GET",route="/cas/{digest}",status="2xx"}'


@pytest.mark.parametrize("http_server", SERVERS)
def test_the_metrics_port_counts_every_workers_requests_once(
    casserver: Callable[..., ServerProcess], http_server: str
) -> None:
    metrics_port = free_port()
    server = casserver(workers=2, env={"CAS_METRICS_PORT": str(metrics_port)}, server=http_server)
    data = b"scraped" * 1000
    digest = hashlib.sha256(data).hexdigest()
    assert requests.put(f"{server.base_url}/cas/{digest}", data=data, timeout=10).status_code == 201
    for _ in range(GETS):  # a connection each: the kernel spreads them over both workers
        assert requests.get(f"{server.base_url}/cas/{digest}", timeout=10).status_code == 200

    for _ in range(3):  # one process answers: the same totals every time
        resp = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert sample(resp.text, GET_OK) == GETS
        assert sample(resp.text, "cas_sent_bytes_total") == GETS * len(data)
        assert sample(resp.text, "cas_storage_blobs") == 1
        assert sample(resp.text, "cas_storage_free_bytes") > 0

    main = requests.get(f"{server.base_url}/metrics", timeout=10)
    assert main.status_code == 404
    assert main.headers["Content-Type"] == "application/problem+json"
    assert main.json()["status"] == 404
    other = requests.get(f"http://127.0.0.1:{metrics_port}/cas/{digest}", timeout=10)
    assert other.status_code == 404  # the metrics port serves nothing else
    assert other.headers["Content-Type"] == "application/problem+json"


def test_unset_keeps_metrics_on_the_client_port(casserver: Callable[..., ServerProcess]) -> None:
    server = casserver(workers=2)
    assert requests.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    resp = requests.get(f"{server.base_url}/metrics", timeout=10)
    assert resp.status_code == 200
    assert sample(resp.text, 'cas_http_requests_total{method="GET",route="/healthz",status="2xx"}')


def test_the_client_port_as_metrics_port_is_refused(
    casserver: Callable[..., ServerProcess],
) -> None:
    server = casserver(workers=1, env={"CAS_METRICS_PORT": str(free_port())}, start=False)
    client_port = server.argv[server.argv.index("--port") + 1]
    server.env["CAS_METRICS_PORT"] = client_port
    with pytest.raises(RuntimeError, match="must differ"):
        server.start()
