"""A real Prometheus (Debian's package) scrapes `loadclient run --metrics-addr` during a run,
and the overview dashboard's load-generator queries return data."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import Spawn
from tests.integration.loadclient.conftest import REPO
from tests.support import PYTHON, ServerProcess, free_port
from tests.unit.deploy.test_metric_names import dashboard_exprs

PROMETHEUS = "/usr/bin/prometheus"
DASHBOARD = REPO / "monitoring/grafana/dashboards/cas-overview.json"
Start = Callable[..., ServerProcess]


def _prometheus(spawn: Spawn, tmp_path: Path, target: str) -> ServerProcess:
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: loadclient\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    proc = spawn(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        base_url=f"http://127.0.0.1:{port}", name="prometheus", start=False,
    )  # fmt: skip
    proc.health_path = "/-/ready"
    return proc.start(deadline_s=30)


def _query(base: str, expr: str) -> list[object]:
    # The dashboard's $__rate_interval is Grafana's; 10s spans several 1 s scrapes.
    expr = expr.replace("$__rate_interval", "10s")
    got = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert got["status"] == "success", got
    result: list[object] = got["data"]["result"]
    return result


def _load_generator_exprs() -> list[str]:
    return [e for e in dashboard_exprs(DASHBOARD) if "loadclient_" in e]


@pytest.mark.skipif(not shutil.which(PROMETHEUS), reason=f"{PROMETHEUS} is not installed")
def test_prometheus_scrapes_a_run_and_the_dashboard_queries_return_data(
    spawn: Spawn, fakecas: Start, tmp_path: Path
) -> None:
    server = fakecas()
    addr = f"127.0.0.1:{free_port()}"
    prometheus = _prometheus(spawn, tmp_path, addr)
    run = subprocess.Popen(
        [PYTHON, "-m", "loadclient", "run", "--cas", server.base_url, "--cache", server.base_url,
         "--size", "2000", "--stages", "2s:200,4s:200", "--workers", "2", "--quiet",
         "--max-send-lag", "1s", "--metrics-addr", addr, "--metrics-linger", "30s"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        exprs = _load_generator_exprs()
        assert len(exprs) >= 6
        deadline, missing = time.monotonic() + 40, exprs
        while missing and time.monotonic() < deadline:
            time.sleep(1)
            missing = [e for e in exprs if not _query(prometheus.base_url, e)]
        assert not missing, missing
        sent = _query(prometheus.base_url, "max(loadclient_requests_total)")
        assert sent and float(sent[0]["value"][1]) > 0  # type: ignore[index]
    finally:
        run.terminate()  # it lingers to be scraped: SIGTERM ends that
        out, err = run.communicate(timeout=30)
    report = json.loads(out) if out.strip() else None
    assert report is None or report["requests"] == 1000, err
