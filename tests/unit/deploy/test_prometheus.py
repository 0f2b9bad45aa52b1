"""Prometheus: scrape configs and alert rules are well formed; promtool agrees when present."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.manifests import ROOT, load_yaml

CONFIGS = [ROOT / "monitoring/prometheus/prometheus.yml", ROOT / "k8s/monitoring/prometheus.yml"]
RULES = ROOT / "monitoring/prometheus/rules/cas-harness.rules.yml"
RULE_TESTS = ROOT / "monitoring/prometheus/tests/cas-harness.rules.test.yml"
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
SEVERITIES = {"critical", "warning"}
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_shape(path: Path) -> None:
    config = load_yaml(path)
    for key in ("scrape_interval", "evaluation_interval"):
        assert DURATION.fullmatch(config["global"][key])
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs))
    for job in config["scrape_configs"]:
        assert {"static_configs", "kubernetes_sd_configs"} & set(job), job["job_name"]
        for relabel in job.get("relabel_configs", []):
            re.compile(relabel.get("regex", "(.*)"))


def test_compose_config_loads_the_mounted_rules() -> None:
    config = load_yaml(CONFIGS[0])
    (pattern,) = config["rule_files"]
    # docker-compose.yml mounts monitoring/prometheus/rules at /etc/prometheus/rules.
    local = pattern.replace("/etc/prometheus/rules/", "")
    assert [p.name for p in RULES.parent.glob(local)] == [RULES.name]


def test_k8s_config_loads_the_config_map_rules() -> None:
    config = load_yaml(CONFIGS[1])
    assert config["rule_files"] == ["/etc/prometheus/config/cas-harness.rules.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    relabels = jobs["pods"]["relabel_configs"]
    # The job label comes from app.kubernetes.io/name, as the rules' job="..." expect.
    assert {
        "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "target_label": "job",
    } in relabels


def test_alerts_are_complete() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert DURATION.fullmatch(rule["for"])


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in load_yaml(RULE_TESTS)["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alerts()} <= tested


@needs_promtool
def test_promtool_accepts_the_compose_config() -> None:
    # Debian's promtool is built without Kubernetes discovery, so only the compose
    # config is checked here; the k8s one is checked by test_config_shape.
    subprocess.run(["promtool", "check", "config", str(CONFIGS[0])], check=True)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    subprocess.run(["promtool", "check", "rules", str(RULES)], check=True)


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    subprocess.run(["promtool", "test", "rules", str(RULE_TESTS)], check=True)
