"""The NetworkPolicies: their selectors match the pods and ports they mean, and together
they allow exactly the connections docs/architecture.md and docs/operations.md list.

`allowed` evaluates the rendered policies as a network plugin would (ingress only,
podSelector / namespaceSelector matchLabels, named and numbered ports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import pytest

from tests.unit.deploy.manifests import ROOT, Obj, containers, kustomize_build, pod_spec

TREE = "k8s/monitoring"  # the base policies name Prometheus, which lives here
NAMESPACE = "cas"


@dataclass(frozen=True)
class Pod:
    """Pod is a source or destination: its namespace, labels and named container ports."""

    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)


@cache
def _rendered() -> tuple[Obj, ...]:
    return tuple(kustomize_build(ROOT / TREE))


def objs() -> list[Obj]:
    return list(_rendered())


def pods() -> dict[str, Pod]:
    """Pods are the tree's workloads by name, as their pods would be."""
    out = {}
    for obj in objs():
        if pod_spec(obj) is None:
            continue
        ports = {
            p["name"]: p["containerPort"]
            for c in containers(obj, init=False)
            for p in c.get("ports", [])
        }
        namespace = obj["metadata"].get("namespace", "default")
        out[obj["metadata"]["name"]] = Pod(
            namespace, obj["spec"]["template"]["metadata"]["labels"], ports
        )
    return out


INGRESS_CONTROLLER = Pod(
    "ingress-nginx",
    {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
)


def policies() -> list[Obj]:
    return [o for o in objs() if o["kind"] == "NetworkPolicy"]


def matches(selector: Obj, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels is evaluated here"
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def peer_matches(peer: Obj, source: Pod, policy_namespace: str) -> bool:
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": source.namespace}
        if not matches(peer["namespaceSelector"], ns_labels):
            return False
    elif source.namespace != policy_namespace:
        return False
    return matches(peer.get("podSelector", {}), source.labels)


def port_matches(rule_ports: list[Obj] | None, dest: Pod, port: str) -> bool:
    if not rule_ports:
        return True
    return any(p["port"] == port or p["port"] == dest.ports.get(port) for p in rule_ports)


def allowed(source: Pod, dest: Pod, port: str) -> bool:
    """Allowed says whether source may open a connection to dest's named port."""
    selecting = [
        p
        for p in policies()
        if p["metadata"]["namespace"] == dest.namespace
        and "Ingress" in p["spec"]["policyTypes"]
        and matches(p["spec"]["podSelector"], dest.labels)
    ]
    if not selecting:
        return True
    return any(
        port_matches(rule.get("ports"), dest, port)
        and (
            "from" not in rule
            or any(peer_matches(peer, source, dest.namespace) for peer in rule["from"])
        )
        for policy in selecting
        for rule in policy["spec"].get("ingress", [])
    )


def test_every_policy_selects_pods_and_their_ports() -> None:
    all_pods = pods()
    for policy in policies():
        name = policy["metadata"]["name"]
        selected = [
            p for p in all_pods.values() if matches(policy["spec"]["podSelector"], p.labels)
        ]
        assert selected, f"{name} selects no pod"
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                for pod in selected:
                    assert port["port"] in pod.ports, f"{name}: {pod.labels} has no port {port}"
            for peer in rule.get("from", []):
                if "namespaceSelector" in peer:
                    continue  # another namespace's pods: the ingress controller
                sources = [p for p in all_pods.values() if matches(peer["podSelector"], p.labels)]
                assert sources, f"{name}: {peer} matches no pod of the stack"


def test_everything_else_is_refused() -> None:
    (deny,) = [p for p in policies() if p["metadata"]["name"] == "default-deny-ingress"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


P = pods()
CASES = [
    # (source, destination, port, allowed)
    ("cacheserver", "cacheserver", "peer", True),
    ("loadclient", "cacheserver", "peer", False),
    ("casserver", "cacheserver", "peer", False),
    ("prometheus", "cacheserver", "peer", False),
    ("grafana", "cacheserver", "peer", False),
    ("ingress", "cacheserver", "peer", False),
    ("ingress", "cacheserver", "http", True),
    ("ingress", "casserver", "http", True),
    ("loadclient", "cacheserver", "http", True),
    ("loadclient", "casserver", "http", True),
    ("cacheserver", "casserver", "http", True),
    # /metrics lives on the metrics ports alone, and Prometheus alone reaches them.
    ("prometheus", "cacheserver", "metrics", True),
    ("prometheus", "casserver", "metrics", True),
    ("prometheus", "cacheserver", "http", False),
    ("prometheus", "casserver", "http", False),
    ("ingress", "cacheserver", "metrics", False),
    ("ingress", "casserver", "metrics", False),
    ("loadclient", "cacheserver", "metrics", False),
    ("loadclient", "casserver", "metrics", False),
    ("cacheserver", "cacheserver", "metrics", False),
    ("cacheserver", "casserver", "metrics", False),
    ("casserver", "cacheserver", "metrics", False),
    ("grafana", "cacheserver", "metrics", False),
    ("grafana", "casserver", "metrics", False),
    ("grafana", "cacheserver", "http", False),
    ("grafana", "casserver", "http", False),
    ("casserver", "cacheserver", "http", False),
    ("grafana", "prometheus", "http", True),
    # The loadclient Job's live metrics: Prometheus alone.
    ("prometheus", "loadclient", "metrics", True),
    ("cacheserver", "loadclient", "metrics", False),
    ("grafana", "loadclient", "metrics", False),
    ("ingress", "loadclient", "metrics", False),
    ("loadclient", "prometheus", "http", False),
]


@pytest.mark.parametrize(("source", "dest", "port", "expected"), CASES)
def test_who_reaches_whom(source: str, dest: str, port: str, expected: bool) -> None:
    src = INGRESS_CONTROLLER if source == "ingress" else P[source]
    assert port in P[dest].ports
    assert allowed(src, P[dest], port) is expected


def test_every_port_of_the_servers_is_in_the_table() -> None:
    for dest in ("cacheserver", "casserver"):
        assert set(P[dest].ports) <= {port for _, d, port, _ in CASES if d == dest}, dest


def test_a_lookalike_pod_in_another_namespace_reaches_nothing() -> None:
    for name in ("cacheserver", "loadclient", "prometheus"):
        impostor = Pod("default", P[name].labels)
        for dest in ("cacheserver", "casserver"):
            for port in P[dest].ports:
                assert not allowed(impostor, P[dest], port), (name, dest, port)
