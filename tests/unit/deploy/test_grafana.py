"""Grafana: provisioning refers to real files and datasources; dashboards are sound."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.manifests import ROOT, load_yaml

GRAFANA = ROOT / "monitoring/grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def datasource_uids() -> dict[str, str]:
    sources = load_yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]
    return {s["uid"]: s["type"] for s in sources}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def prometheus_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Prometheus_exprs lists every PromQL query, Grafana variables replaced by values."""
    exprs = [
        t["expr"]
        for p in panels(dashboard)
        for t in p.get("targets", [])
        if t["datasource"]["type"] == "prometheus"
    ]
    return [e.replace("$__rate_interval", "1m").replace("$instance", ".*") for e in exprs]


def dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_datasources() -> None:
    assert datasource_uids() == {"prometheus": "prometheus", "loki": "loki"}


def test_dashboard_provider_path_is_the_compose_mount() -> None:
    providers = load_yaml(GRAFANA / "provisioning/dashboards/dashboards.yml")["providers"]
    compose = load_yaml(ROOT / "docker-compose.yml")["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{providers[0]['options']['path']}:ro" in compose


def test_there_are_dashboards() -> None:
    assert DASHBOARDS
    uids = [dashboard(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_are_laid_out_and_use_provisioned_datasources(path: Path) -> None:
    data = dashboard(path)
    assert data["title"]
    # Provisioned dashboards are matched by uid; a fixed numeric id would clash.
    assert data.get("id") is None
    ids = [p["id"] for p in panels(data)]
    assert len(ids) == len(set(ids))
    uids = datasource_uids()
    for panel in panels(data):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in uids, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert uids[target["datasource"]["uid"]] == target["datasource"]["type"]
            assert target["expr"].strip()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_do_not_overlap(path: Path) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels(dashboard(path)):
        pos = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")
@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_promtool_parses_every_query(path: Path, tmp_path: Path) -> None:
    # promtool has no "check expression"; recording rules make it parse each one.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr}
        for i, expr in enumerate(prometheus_exprs(dashboard(path)))
    ]
    rules_file = tmp_path / "queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    subprocess.run(["promtool", "check", "rules", str(rules_file)], check=True)


def promtail_labels() -> set[str]:
    config = load_yaml(ROOT / "monitoring/promtail/promtail.yml")
    labels = set()
    for job in config["scrape_configs"]:
        labels |= {r["target_label"] for r in job["relabel_configs"]}
        for stage in job.get("pipeline_stages", []):
            for inner in stage.get("match", {}).get("stages", []):
                labels |= set(inner.get("labels", {}))
    return labels


def test_log_queries_select_labels_promtail_sets() -> None:
    labels = promtail_labels()
    assert {"service", "level"} <= labels
    services = set(load_yaml(ROOT / "docker-compose.yml")["services"])
    for path in DASHBOARDS:
        for panel in panels(dashboard(path)):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] != "loki":
                    continue
                for selector in re.findall(r"\{([^}]*)\}", target["expr"]):
                    for name, value in re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"', selector):
                        assert name in labels, target["expr"]
                        if name == "service" and not value.startswith("$"):
                            matched = {s for s in services if re.fullmatch(value, s)}
                            assert matched >= {"casserver", "cache1"}, value
