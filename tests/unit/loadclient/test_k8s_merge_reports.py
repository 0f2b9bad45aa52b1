"""scripts/k8s-merge-reports against a stub kubectl: which pods' logs it merges, and the rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loadclient.metrics import Metrics
from loadclient.report import Report, Verdict
from loadclient.result import Result

ROOT = Path(__file__).parents[3]
MS = 1_000_000

STUB = """#!/usr/bin/env bash
echo "kubectl $*" >> "$STUB_DIR/calls.log"
case "$*" in
    *"-o jsonpath={.spec.completions}") echo 2 ;;
    *"-o jsonpath={.status.succeeded}") echo 2 ;;
    *"-o jsonpath={.status.failed}") echo "" ;;
    *"get pods -l job-name=loadclient"*) printf 'loadclient-0-ab\\nloadclient-1-cd\\n' ;;
    *"logs loadclient-"*) cat "$STUB_DIR/$6.log" ;;
    *"get job loadclient -o json") cat "$STUB_DIR/job.json" ;;
    *"create -f "*) cp "${@: -1}" "$STUB_DIR/created.json" ;;
esac
"""


def pod_log(requests: int) -> str:
    m = Metrics(10**9)
    for k in range(requests):
        m.add(Result(k * MS, k * MS + 10, k * MS + MS, 200, 25, 0, None, "", b"hit"))
    report = json.dumps(Report(m, 1_700_000_000 * 10**9, 100, Verdict()).to_json(), indent=2)
    # As kubectl logs shows it: stderr's warnings and text report around stdout's JSON.
    return f"loadclient: warm-up HEAD ...\n{report}\nRequests  [total]  {requests}\n{{not json\n"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "kubectl").write_text(STUB)
    (stubs / "kubectl").chmod(0o755)
    (tmp_path / "loadclient-0-ab.log").write_text(pod_log(30))
    (tmp_path / "loadclient-1-cd.log").write_text(pod_log(12))
    job = {
        "metadata": {"name": "loadclient", "uid": "u1", "labels": {"a": "b"}},
        "spec": {"selector": {"matchLabels": {"controller-uid": "u1"}},
                 "template": {"metadata": {"labels": {"controller-uid": "u1", "job-name": "x"}},
                              "spec": {"containers": [{"name": "loadclient",
                                                       "args": ["--shard", "0/2"]}]}}},
        "status": {"succeeded": 2},
    }  # fmt: skip
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_DIR": str(tmp_path),
           "PYTHON": sys.executable}  # fmt: skip
    env.pop("MINIKUBE_PROFILE", None)
    return subprocess.run(
        [str(ROOT / "scripts" / "k8s-merge-reports"), *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_merges_every_pod_s_report(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    merged = json.loads(done.stdout)
    assert merged["requests"] == 42 and merged["merged_reports"] == 2
    assert merged["target_rate"] == 200.0
    assert not (tmp_path / "created.json").exists()


def test_start_in_reruns_the_job_with_a_shared_start(tmp_path: Path) -> None:
    done = run(tmp_path, "--start-in", "30")
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.log").read_text()
    assert "delete job loadclient --cascade=foreground --wait=true" in calls
    created = json.loads((tmp_path / "created.json").read_text())
    assert "status" not in created and "selector" not in created["spec"]
    assert created["spec"]["template"]["metadata"]["labels"] == {}
    args = created["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["--shard", "0/2"] and args[2] == "--start-at"
    assert args[3].endswith("Z") and args[3] in done.stderr
