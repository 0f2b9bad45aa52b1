"""Every series the dashboards and alerts query is one the programs really export.

The names come from each app's own /metrics page, built in-process by create_app and
exercised once so that labelled families exist; nothing is copied by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.request import urlopen

import pytest
from falcon import testing

from tests.unit.deploy.manifests import ROOT, exposed_names, load_yaml, promql_metric_names

# Series Prometheus makes itself for every target.
SYNTHETIC = {"up"}
RULE_FILES = [
    ROOT / "monitoring/prometheus/rules/cas-harness.rules.yml",
    ROOT / "k8s/monitoring/cas-harness.rules.yml",
]
DASHBOARDS = sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json"))


def casserver_names(storage: Path) -> set[str]:
    from casserver.app import create_app
    from casserver.config import Config

    client = testing.TestClient(create_app(Config(storage_dir=storage)))
    blob = b"deploy test blob"
    client.simulate_put(f"/cas/{hashlib.sha256(blob).hexdigest()}", body=blob)
    client.simulate_put(f"/cas/{hashlib.sha256(b'other').hexdigest()}", body=blob)
    client.simulate_get(f"/cas/{hashlib.sha256(blob).hexdigest()}")
    return exposed_names(client.simulate_get("/metrics").text)


def cacheserver_names() -> set[str]:
    from cacheserver.app import create_app
    from cacheserver.config import Config

    # A ring of one whose origin is never contacted: /metrics needs no traffic.
    client = testing.TestClient(create_app(Config(origin_url="http://127.0.0.1:9")))
    client.simulate_get("/healthz")
    return exposed_names(client.simulate_get("/metrics").text)


def cacheserver_metrics_port_names() -> set[str]:
    """The names a member with CACHE_METRICS_PORT (as in k8s/) serves on that port."""
    from prometheus_client import CollectorRegistry

    from cacheserver.app import create_app
    from cacheserver.config import Config
    from cascommon.metricsport import MetricsPort

    registry = CollectorRegistry()
    config = Config(origin_url="http://127.0.0.1:9", metrics_port=1)
    client = testing.TestClient(create_app(config, registry=registry))
    client.simulate_get("/healthz")
    assert client.simulate_get("/metrics").status_code == 404
    port = MetricsPort(registry, "127.0.0.1", 0).start()
    try:
        with urlopen(f"http://127.0.0.1:{port.port}/metrics", timeout=5) as resp:
            return exposed_names(resp.read().decode())
    finally:
        port.close()


def loadclient_names() -> set[str]:
    """The names `loadclient run --metrics-addr` serves, after one failed request."""
    from prometheus_client.exposition import generate_latest

    from loadclient.live import Board, registry_for
    from loadclient.metrics import Metrics
    from loadclient.result import TIMEOUT, Result

    metrics = Metrics(10**8)
    metrics.add(Result(0, 1, 2, 0, 0, 0, TIMEOUT, "timed out", None))
    board = Board()
    board.finish(metrics)
    return exposed_names(generate_latest(registry_for(board)).decode())


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    names = casserver_names(tmp_path_factory.mktemp("cas-data")) | cacheserver_names()
    names |= loadclient_names()
    assert "cas_storage_bytes" in names and "cacheserver_gets_total" in names
    return names | SYNTHETIC


def test_the_metrics_port_exports_what_the_client_port_did() -> None:
    assert cacheserver_metrics_port_names() == cacheserver_names()


def rule_exprs(path: Path) -> list[str]:
    return [r["expr"] for g in load_yaml(path)["groups"] for r in g["rules"]]


def dashboard_exprs(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    exprs = []
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == "prometheus":
                exprs.append(target["expr"])
    for variable in data.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and variable["datasource"]["type"] == "prometheus":
            # label_values(metric, label): the metric is the first argument.
            exprs.append(variable["definition"].split("(", 1)[1].split(",")[0])
    return exprs


def test_the_extractor_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route="/x", le!="1e3"}'
        "[$__rate_interval]))) / ignoring(x) group_left b_total * 1e9 > bool 2 and on() up"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b_total", "up"}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_alert_rules_query_exported_metrics(path: Path, exported: set[str]) -> None:
    for expr in rule_exprs(path):
        assert promql_metric_names(expr) <= exported, expr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_query_exported_metrics(path: Path, exported: set[str]) -> None:
    for expr in dashboard_exprs(path):
        assert promql_metric_names(expr) <= exported, expr
