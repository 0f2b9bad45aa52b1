"""The deploy scripts, run against stub docker/minikube/kubectl that record their calls.

Neither Docker nor a cluster is needed: the stubs answer like the real tools would on
success, and the tests check what the scripts asked them to do, in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.manifests import ROOT, build_without_kubectl, containers
from tests.unit.loadclient.test_k8s_merge_reports import pod_log

# Each stub appends its argv to calls.log; kubectl also keeps what it was asked to apply.
STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $*" in
    "minikube -p minikube status"*) exit "${STUB_STATUS:-0}" ;;
    "docker compose version") exit "${STUB_NO_V2:-0}" ;;
    "docker info") exit "${STUB_NO_ENGINE:-0}" ;;
    "docker-compose version --short") echo 1.29.2 ;;
    "docker-compose ps -q "*) echo "id-${*: -1}" ;;
    "docker inspect -f {{.State.Health.Status}} id-"*) echo healthy ;;
    *"get statefulset -o name") printf '%s' "${STUB_EXISTING:-}" ;;
    *"get hpa cacheserver -o jsonpath={.spec.minReplicas}") echo 3 ;;
    *"get statefulset cacheserver -o jsonpath={.status.readyReplicas}") echo 3 ;;
    *"get job loadclient -o jsonpath={.spec.completions}") echo 1 ;;
    *"get job loadclient -o jsonpath={.status.succeeded}") echo 1 ;;
    *"get job loadclient -o jsonpath={.status.failed}") echo "" ;;
    *"get pods -l job-name=loadclient"*) echo loadclient-0-ab ;;
    *"logs loadclient-0-ab -c loadclient") cat "$STUB_DIR/shard.log" ;;
    "minikube -p minikube ip") echo 192.0.2.10 ;;
esac
exit 0
"""


def run(
    script: str,
    tmp_path: Path,
    *args: str,
    stopped: bool = False,
    existing: bool = False,
    compose_v1: bool = False,
    no_engine: bool = False,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run runs a script against the stubs.

    stopped: no minikube runs; existing: a stack does; compose_v1: only docker-compose 1.29;
    no_engine: docker info fails, as it does with no engine running.
    """
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("docker", "docker-compose", "minikube", "kubectl"):
        (stubs / tool).write_text(STUB)
        (stubs / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_DIR": str(tmp_path),
        "STUB_STATUS": "7" if stopped else "0",
        "STUB_NO_V2": "1" if compose_v1 else "0",
        "STUB_NO_ENGINE": "1" if no_engine else "0",
        "STUB_EXISTING": (
            "statefulset.apps/casserver\nstatefulset.apps/cacheserver\n" if existing else ""
        ),
    }
    env["PYTHON"] = sys.executable
    env.pop("MINIKUBE_PROFILE", None)
    (tmp_path / "shard.log").write_text(pod_log(7))
    done = subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, log.read_text().splitlines() if log.exists() else []


def test_compose_up_builds_once_waits_then_runs_the_load_test(tmp_path: Path) -> None:
    done, calls = run("compose-up", tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "docker compose version",
        "docker info",
        "docker compose build casserver",
        "docker compose up --detach --no-build --wait",
        "docker compose run --rm --no-deps loadclient",
    ]


def test_compose_up_without_a_docker_engine_says_so_in_one_line(tmp_path: Path) -> None:
    done, calls = run("compose-up", tmp_path, compose_v1=True, no_engine=True)
    assert done.returncode == 1
    assert (
        done.stderr.startswith("compose-up: no Docker engine answers")
        and done.stderr.count("\n") == 1
    )
    assert calls[-1] == "docker info"


def test_compose_up_with_docker_compose_1_29_polls_the_healthchecks(tmp_path: Path) -> None:
    done, calls = run("compose-up", tmp_path, compose_v1=True)
    assert done.returncode == 0, done.stderr
    assert calls[:5] == [
        "docker compose version",
        "docker-compose version --short",
        "docker info",
        "docker-compose build casserver",
        "docker-compose up --detach --no-build",
    ]
    for service in ("casserver", "cache1", "cache2", "cache3"):
        assert f"docker inspect -f {{{{.State.Health.Status}}}} id-{service}" in calls
    assert calls[-1] == "docker-compose run --rm --no-deps loadclient"


@pytest.mark.parametrize("script", ["compose-up", "k8s-up"])
def test_help_is_clean_text(tmp_path: Path, script: str) -> None:
    done, calls = run(script, tmp_path, "--help")
    assert done.returncode == 0 and calls == []
    lines = done.stdout.splitlines()
    assert lines[0].startswith(("Starts", "Deploys")) and f"scripts/{script}" in done.stdout
    assert not any(line.startswith("#") or "set -euo" in line for line in lines)


def test_compose_up_without_load(tmp_path: Path) -> None:
    done, calls = run("compose-up", tmp_path, "--no-load")
    assert done.returncode == 0, done.stderr
    assert "docker compose run --rm --no-deps loadclient" not in calls


def built_images(calls: list[str]) -> set[str]:
    """Built_images are the tags the script's `minikube image build -t` calls made."""
    return {c.split(" -t ")[1].split()[0] for c in calls if " image build " in c}


@pytest.mark.parametrize("monitoring", [False, True])
def test_k8s_up_applies_the_tree_with_the_image_it_builds(tmp_path: Path, monitoring: bool) -> None:
    done, calls = run("k8s-up", tmp_path, *(["--monitoring"] if monitoring else []))
    assert done.returncode == 0, done.stderr
    # What it prints is the merge of every shard's report (one shard here, 7 requests).
    assert json.loads(done.stdout)["requests"] == 7
    kube = [c.removeprefix("kubectl --context minikube ") for c in calls if c.startswith("kubectl")]
    assert "minikube -p minikube addons enable ingress" in calls
    assert "minikube -p minikube addons enable metrics-server" in calls
    # A running minikube is used as it is.
    assert not any(c.startswith("minikube -p minikube start") for c in calls)
    # The old Job goes first: a Job's pod template cannot be changed in place.
    (apply,) = [i for i, c in enumerate(kube) if c.startswith("apply -k ")]
    assert kube.index("-n cas delete job loadclient --ignore-not-found --wait=true") < apply
    # The peer token exists before the pods that read it.
    assert kube.index("-n cas get secret cache-peer-token") < apply
    assert "-n cas rollout status statefulset/cacheserver --timeout=300s" in kube
    # The whole ring, as the autoscaler's minimum says, before the load test.
    ready = "-n cas get statefulset cacheserver -o jsonpath={.status.readyReplicas}"
    assert kube.index("-n cas get hpa cacheserver -o jsonpath={.spec.minReplicas}") < kube.index(
        ready
    )
    assert ("-n cas rollout status deployment/grafana --timeout=300s" in kube) is monitoring
    assert ("-n cas-logs rollout status daemonset/promtail --timeout=300s" in kube) is monitoring

    # The checked-in tree itself, as the README's commands apply it.
    tree = kube[apply].removeprefix("apply -k ")
    assert tree == ("k8s/monitoring" if monitoring else "k8s")
    applied = build_without_kubectl(ROOT / tree)
    images = {c["image"] for obj in applied for c in containers(obj, init=True)}
    ours = {image for image in images if image.startswith("cas-harness")}
    assert ours and ours <= built_images(calls)
    kinds = {obj["kind"] for obj in applied}
    assert ("Deployment" in kinds) is monitoring


def test_k8s_up_restarts_what_ran_the_previous_build(tmp_path: Path) -> None:
    done, calls = run("k8s-up", tmp_path, "--no-load", existing=True)
    assert done.returncode == 0, done.stderr
    kube = [c.removeprefix("kubectl --context minikube ") for c in calls if c.startswith("kubectl")]
    (apply,) = [i for i, c in enumerate(kube) if c.startswith("apply -k ")]
    for sts in ("casserver", "cacheserver"):
        assert kube.index(f"-n cas rollout restart statefulset.apps/{sts}") > apply


def test_scripts_refuse_unknown_arguments(tmp_path: Path) -> None:
    for script in ("compose-up", "k8s-up"):
        (tmp_path / script).mkdir()
        done, calls = run(script, tmp_path / script, "--bogus")
        assert done.returncode == 2
        assert calls == []
