"""The rendered requests fit the minikube node scripts/k8s-up starts, beside its own pods.

A default `minikube start` gives the node 2 CPUs. Its own pods request CPU too; what is
left must hold every pod of the stack at once, the Job and the autoscaler's largest
cache tier included, or pods stay Pending and k8s-up's rollout wait gives up.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.deploy.manifests import ROOT, Obj, containers, index, kustomize_build, pod_spec
from tests.unit.deploy.test_scripts import run

# Requests of minikube's own pods (Kubernetes 1.30, minikube 1.33-1.34), plus the
# ingress and metrics-server addons k8s-up enables. kube-proxy and storage-provisioner
# request nothing.
SYSTEM_CPU_M = {
    "kube-apiserver": 250,
    "kube-controller-manager": 200,
    "kube-scheduler": 100,
    "etcd": 100,
    "coredns": 100,
    "ingress-nginx-controller": 100,
    "metrics-server": 100,
}
SYSTEM_MEMORY_MI = {
    "etcd": 100,
    "coredns": 70,
    "ingress-nginx-controller": 90,
    "metrics-server": 200,
}
# A default `minikube start` node, and what the kubelet keeps back from the memory it
# is given (eviction threshold, the node's own processes).
DEFAULT_CPUS = 2
RESERVED_MEMORY_MI = 300
TREES = ("k8s", "k8s/monitoring", "k8s/shared-storage")


def cpu_m(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def memory_mi(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def pod_requests(obj: Obj) -> tuple[int, int]:
    """Pod_requests is what the scheduler reserves for one pod: (CPU m, memory Mi)."""
    spec = pod_spec(obj)
    assert spec is not None
    totals = []
    for parse, key in ((cpu_m, "cpu"), (memory_mi, "memory")):
        app = sum(parse(c["resources"]["requests"][key]) for c in spec["containers"])
        init = [parse(c["resources"]["requests"][key]) for c in spec.get("initContainers", [])]
        # Init containers run one at a time before the others: the larger counts.
        totals.append(max([app, *init]))
    return totals[0], totals[1]


def pods_at_most(obj: Obj, objs: list[Obj]) -> int:
    """Pods_at_most is how many pods a workload can run at once on one node."""
    spec = obj["spec"]
    for hpa in (o for o in objs if o["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) == (obj["kind"], obj["metadata"]["name"]):
            return int(hpa["spec"]["maxReplicas"])
    if obj["kind"] == "Job":
        return int(spec.get("parallelism", 1))
    if obj["kind"] == "DaemonSet":
        return 1
    return int(spec.get("replicas", 1))


def stack_requests(tree: str) -> tuple[int, int]:
    objs = kustomize_build(ROOT / tree)
    cpu = memory = 0
    for obj in objs:
        if pod_spec(obj) is None:
            continue
        pod_cpu, pod_memory = pod_requests(obj)
        cpu += pod_cpu * pods_at_most(obj, objs)
        memory += pod_memory * pods_at_most(obj, objs)
    return cpu, memory


def minikube_start_args(tmp_path: Path, *args: str) -> dict[str, str]:
    """Minikube_start_args is what k8s-up passes to `minikube start` when none runs."""
    done, calls = run("k8s-up", tmp_path, *args, stopped=True)
    assert done.returncode == 0, done.stderr
    (start,) = [c for c in calls if c.startswith("minikube -p minikube start")]
    return dict(re.findall(r"--([\w-]+)=(\S+)", start))


@pytest.mark.parametrize("tree", TREES)
def test_the_stack_fits_a_default_two_cpu_minikube(tree: str) -> None:
    cpu, _ = stack_requests(tree)
    assert cpu + sum(SYSTEM_CPU_M.values()) <= DEFAULT_CPUS * 1000, f"{tree}: {cpu}m"


@pytest.mark.parametrize(("tree", "flags"), [("k8s", ()), ("k8s/monitoring", ("--monitoring",))])
def test_k8s_up_starts_minikube_big_enough(tmp_path: Path, tree: str, flags: tuple[str]) -> None:
    start = minikube_start_args(tmp_path, *flags)
    cpu, memory = stack_requests(tree)
    assert int(start["cpus"]) == DEFAULT_CPUS
    assert cpu + sum(SYSTEM_CPU_M.values()) <= int(start["cpus"]) * 1000
    budget = int(start["memory"]) - RESERVED_MEMORY_MI
    assert memory + sum(SYSTEM_MEMORY_MI.values()) <= budget, f"{tree}: {memory}Mi"


def test_the_operations_guide_names_what_minikube_needs(tmp_path: Path) -> None:
    start = minikube_start_args(tmp_path, "--monitoring")
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert f"--cpus={start['cpus']} --memory={start['memory']}" in guide


def test_the_cache_tier_memory_limit_holds_its_bound() -> None:
    """RSS <= idle + 1.5x CACHE_BYTES (the cache issue), inside the container's limit."""
    idle_mi = 72  # granian's main process and its worker, idle, measured
    sts = index(kustomize_build(ROOT / "k8s"))[("StatefulSet", "cacheserver")]
    (container,) = containers(sts, init=False)
    env = {e["name"]: e.get("value") for e in container["env"]}
    bound_mi = idle_mi + 1.5 * int(env["CACHE_BYTES"]) / (1 << 20)
    limit = memory_mi(container["resources"]["limits"]["memory"])
    assert bound_mi <= limit
    assert memory_mi(container["resources"]["requests"]["memory"]) <= limit


def test_casserver_memory_caches_fit_its_memory_limit() -> None:
    """Idle casserver plus every worker's full CAS_MEMORY_CACHE_BYTES fits the container."""
    from casserver.config import Config

    idle_mi = 103  # granian's main process and two workers, idle, measured
    sts = index(kustomize_build(ROOT / "k8s"))[("StatefulSet", "casserver")]
    (container,) = containers(sts, init=False)
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = Config.from_env({k: v for k, v in env.items() if v is not None})
    if config.max_bytes is not None:
        idle_mi += 34  # the evictor process, idle, measured
    # A full cache measured 65 MiB over idle for two workers of 32 MiB: the bound counts
    # each entry's overhead, so 1.1x leaves room for the allocator.
    cache_mi = config.workers * 1.1 * config.memory_cache_bytes / (1 << 20)
    assert idle_mi + cache_mi <= memory_mi(container["resources"]["requests"]["memory"])
    assert memory_mi(container["resources"]["requests"]["memory"]) <= memory_mi(
        container["resources"]["limits"]["memory"]
    )
