"""k8s/: what kustomize renders, checked against the Kubernetes schemas and our rules."""

from __future__ import annotations

import re
import shutil
from functools import cache
from typing import Any

import pytest
import yaml

from cacheserver.config import Config as CacheConfig
from cacheserver.config import dns_target
from cacheserver.membership import member_url, stable_name
from casserver.config import Config as CasConfig
from tests.unit.deploy.manifests import (
    CLUSTER_KINDS,
    ROOT,
    Obj,
    build_without_kubectl,
    containers,
    index,
    k8s_values,
    kubectl_build,
    kustomize_build,
    normalized,
    pod_spec,
    program_of,
)

TREES = ("k8s", "k8s/monitoring", "k8s/shared-storage")
# The Kubernetes minor version whose schemas the manifests must satisfy.
KUBERNETES_VERSION = "1.30"
NAMESPACE = "cas"

EXPECTED = {
    ("Namespace", "cas"),
    ("Service", "casserver"),
    ("Service", "casserver-headless"),
    ("StatefulSet", "casserver"),
    ("Service", "cacheserver"),
    ("Service", "cacheserver-peers"),
    ("StatefulSet", "cacheserver"),
    ("PodDisruptionBudget", "cacheserver"),
    ("PodDisruptionBudget", "casserver"),
    ("HorizontalPodAutoscaler", "cacheserver"),
    ("NetworkPolicy", "default-deny-ingress"),
    ("NetworkPolicy", "cacheserver-peers"),
    ("NetworkPolicy", "cacheserver-clients"),
    ("NetworkPolicy", "casserver-clients"),
    ("NetworkPolicy", "cacheserver-metrics"),
    ("NetworkPolicy", "casserver-metrics"),
    ("NetworkPolicy", "loadclient-metrics"),
    ("Job", "loadclient"),
    ("Ingress", "cache"),
    ("Ingress", "origin"),
}
MONITORING = {
    ("ServiceAccount", "prometheus"),
    ("Role", "prometheus"),
    ("RoleBinding", "prometheus"),
    ("ConfigMap", "prometheus-config"),
    ("Service", "prometheus"),
    ("Deployment", "prometheus"),
    ("ConfigMap", "grafana-datasources"),
    ("ConfigMap", "grafana-dashboard-providers"),
    ("ConfigMap", "grafana-dashboards"),
    ("Service", "grafana"),
    ("Deployment", "grafana"),
    ("NetworkPolicy", "prometheus"),
    ("NetworkPolicy", "grafana"),
}
LOGS = {
    ("Namespace", "cas-logs"),
    ("ConfigMap", "loki-config"),
    ("Service", "loki"),
    ("Deployment", "loki"),
    ("ServiceAccount", "promtail"),
    ("Role", "promtail"),
    ("RoleBinding", "promtail"),
    ("ConfigMap", "promtail-config"),
    ("DaemonSet", "promtail"),
}
LOGS_NAMESPACE = "cas-logs"
# What lives in cas-logs; everything else is in cas (the Role and RoleBinding that let
# promtail list the pods of cas are in cas).
IN_LOGS = {key for key in LOGS if key[0] not in ("Namespace", "Role", "RoleBinding")}


@cache
def _build(tree: str) -> tuple[Obj, ...]:
    return tuple(kustomize_build(ROOT / tree))


def build(tree: str = "k8s") -> list[Obj]:
    return list(_build(tree))


def objs_by_name(tree: str = "k8s") -> dict[tuple[str, str], Obj]:
    return index(build(tree))


def workloads(tree: str) -> list[Obj]:
    return [o for o in build(tree) if pod_spec(o) is not None]


def env_of(container: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def the_container(kind: str, name: str) -> Obj:
    (container,) = containers(objs_by_name()[(kind, name)], init=False)
    return container


def test_stack_kinds() -> None:
    assert set(objs_by_name()) == EXPECTED


def test_monitoring_overlay_adds_prometheus_grafana_and_loki() -> None:
    assert set(objs_by_name("k8s/monitoring")) == EXPECTED | MONITORING | LOGS


@pytest.mark.parametrize("tree", TREES)
def test_everything_is_in_namespace_cas_but_the_log_pipeline(tree: str) -> None:
    for obj in build(tree):
        if obj["kind"] not in CLUSTER_KINDS:
            key = (obj["kind"], obj["metadata"]["name"])
            expected = LOGS_NAMESPACE if key in IN_LOGS else NAMESPACE
            assert obj["metadata"]["namespace"] == expected, key


@pytest.mark.parametrize("tree", TREES)
def test_objects_match_the_kubernetes_schemas(tree: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for obj in build(tree):
        # strict: an unknown or misspelt field is an error, not silently dropped.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("tree", TREES)
def test_fallback_renders_what_kubectl_renders(tree: str) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    assert normalized(build_without_kubectl(ROOT / tree)) == normalized(
        kubectl_build(kubectl, ROOT / tree)
    )


@pytest.mark.parametrize("tree", TREES)
def test_pods_run_restricted(tree: str) -> None:
    for obj in workloads(tree):
        if obj["metadata"]["namespace"] == LOGS_NAMESPACE and obj["kind"] == "DaemonSet":
            continue  # promtail: test_promtail_only_reads_the_host
        spec = pod_spec(obj)
        assert spec is not None
        name = obj["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(obj, init=True):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name


@pytest.mark.parametrize("tree", TREES)
def test_containers_have_resources(tree: str) -> None:
    for obj in workloads(tree):
        for container in containers(obj, init=True):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
            assert "memory" in resources["limits"], container["name"]


@pytest.mark.parametrize("tree", TREES)
def test_servers_have_probes_on_their_own_port(tree: str) -> None:
    for obj in workloads(tree):
        if obj["kind"] not in ("StatefulSet", "Deployment"):
            continue
        for container in containers(obj, init=False):
            ports = {p["name"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in ports, container["name"]
            if program_of(container.get("command")):
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_program_containers_use_the_project_image() -> None:
    for obj in workloads("k8s"):
        for container in containers(obj, init=True):
            assert container["image"] == "cas-harness:local"
            assert container["imagePullPolicy"] == "IfNotPresent"


def test_services_select_pods_and_name_their_ports() -> None:
    objs = build()
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        pods = [
            o
            for o in workloads("k8s")
            if selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"Service {svc['metadata']['name']} selects no pods"
        for port in svc["spec"]["ports"]:
            assert any(
                port["targetPort"] in {p["name"] for p in c.get("ports", [])}
                for o in pods
                for c in containers(o, init=False)
            )


def test_statefulsets_are_governed_by_headless_services() -> None:
    objs = objs_by_name()
    for name in ("casserver", "cacheserver"):
        governing = objs[("StatefulSet", name)]["spec"]["serviceName"]
        assert objs[("Service", governing)]["spec"]["clusterIP"] == "None"


def test_casserver_keeps_blobs_on_a_claimed_volume() -> None:
    sts = objs_by_name()[("StatefulSet", "casserver")]
    assert sts["spec"]["replicas"] == 1
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    container = the_container("StatefulSet", "casserver")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == env_of(container)["CAS_STORAGE_DIR"]
    # The non-root user can write to the volume.
    assert sts["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001


def test_cache_members_discover_each_other_through_the_headless_service() -> None:
    objs = objs_by_name()
    container = the_container("StatefulSet", "cacheserver")
    env = env_of(container)
    name, _, port = env["CACHE_PEERS_DNS"].partition(":")
    peers = objs[("Service", name)]
    assert peers["spec"]["clusterIP"] == "None"
    # Only the peer port: the peer protocol is all that members ask each other for.
    assert [(p["port"], p["targetPort"]) for p in peers["spec"]["ports"]] == [(int(port), "peer")]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["peer"] == int(env["CACHE_PEER_PORT"]) == int(port)
    assert ports["http"] == int(env["LISTEN_PORT"])
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "CACHE_SELF" not in env and "POD_IP" not in env


@pytest.mark.parametrize("ordinal", range(4))
def test_a_cache_pods_ring_identity_is_its_stable_dns_name(ordinal: int) -> None:
    """The URL a pod computes from its environment is what the others find by DNS."""
    objs = objs_by_name()
    sts = objs[("StatefulSet", "cacheserver")]
    pod = f"{sts['metadata']['name']}-{ordinal}"
    service = sts["spec"]["serviceName"]
    # What the cluster DNS answers for the reverse lookup of the pod's address.
    fqdn = f"{pod}.{service}.{sts['metadata']['namespace']}.svc.cluster.local"
    config = CacheConfig.from_env(k8s_values(the_container("StatefulSet", "cacheserver"), pod))
    dns_name, port = dns_target(config)
    assert dns_name == service
    found = member_url(stable_name("10.244.0.7", dns_name, lambda _: (fqdn, [], [])), port)
    assert config.member_url == found == f"http://{pod}.{service}:18002"


def test_clients_reach_casserver_through_its_service() -> None:
    objs = objs_by_name()
    svc_port = objs[("Service", "casserver")]["spec"]["ports"][0]["port"]
    for kind, name in (("StatefulSet", "cacheserver"), ("Job", "loadclient")):
        assert env_of(the_container(kind, name))["CAS_SERVER_ADDR"] == f"casserver:{svc_port}"
    cache_port = objs[("Service", "cacheserver")]["spec"]["ports"][0]["port"]
    loadclient = env_of(the_container("Job", "loadclient"))
    assert loadclient["CACHE_SERVER_ADDR"] == f"cacheserver:{cache_port}"


def test_loadclient_job_runs_once() -> None:
    job = objs_by_name()[("Job", "loadclient")]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert program_of(the_container("Job", "loadclient")["command"]) == "loadclient"


def test_scrape_annotations_name_the_metrics_port() -> None:
    for obj in workloads("k8s"):
        annotations = obj["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        ports = {p["containerPort"] for c in containers(obj, init=False) for p in c["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports
        assert annotations["prometheus.io/path"] == "/metrics"
    scraped = {
        o["metadata"]["name"]
        for o in workloads("k8s")
        if o["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape")
    }
    assert scraped == {"casserver", "cacheserver", "loadclient"}


def test_the_loadclient_job_serves_live_metrics_on_its_scraped_port() -> None:
    container = the_container("Job", "loadclient")
    args = container["args"]
    addr = args[args.index("--metrics-addr") + 1]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert addr == f"0.0.0.0:{ports['metrics']}"


@pytest.mark.parametrize(
    ("name", "config"), [("casserver", CasConfig), ("cacheserver", CacheConfig)]
)
def test_servers_serve_metrics_on_the_scraped_port_alone(name: str, config: Any) -> None:
    """The annotation, the named port and the server's own metrics port agree, apart from http."""
    sts = objs_by_name()[("StatefulSet", name)]
    container = the_container("StatefulSet", name)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics_port = config.from_env(k8s_values(container)).metrics_port
    annotated = int(sts["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
    assert annotated == ports["metrics"] == metrics_port
    assert metrics_port != ports["http"]


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]


def test_ingress_routes_reads_to_the_cache_and_uploads_to_the_origin() -> None:
    objs = objs_by_name()
    routes = {}
    for name in ("cache", "origin"):
        ingress = objs[("Ingress", name)]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                assert ("Service", service["name"]) in objs
                routes[path["path"]] = service["name"]
    assert routes == {"/cas": "cacheserver", "/origin(/cas.*)": "casserver"}
    for path in routes:
        assert "_groupcache" not in path and "metrics" not in path


def test_origin_ingress_admits_the_largest_blob() -> None:
    objs = objs_by_name()
    annotations = objs[("Ingress", "origin")]["metadata"]["annotations"]
    limit = int(env_of(the_container("StatefulSet", "casserver"))["CAS_MAX_BLOB_BYTES"])
    assert _bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) > limit
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/rewrite-target"] == "$1"


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    for tree in TREES:
        labels = objs_by_name(tree)[("Namespace", "cas")]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_log_pipeline_has_a_namespace_of_its_own_at_the_level_it_needs() -> None:
    objs = objs_by_name("k8s/monitoring")
    labels = objs[("Namespace", LOGS_NAMESPACE)]["metadata"]["labels"]
    # hostPath volumes are forbidden by baseline and restricted alike.
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    spec = pod_spec(objs[("DaemonSet", "promtail")])
    assert spec is not None
    assert any("hostPath" in v for v in spec["volumes"])
    # Loki itself needs nothing beyond restricted.
    loki = pod_spec(objs[("Deployment", "loki")])
    assert loki is not None and loki["securityContext"]["runAsNonRoot"] is True


def test_promtail_only_reads_the_host() -> None:
    objs = objs_by_name("k8s/monitoring")
    ds = objs[("DaemonSet", "promtail")]
    spec = pod_spec(ds)
    assert spec is not None
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    (container,) = containers(ds, init=False)
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and "privileged" not in sc
    for mount in container["volumeMounts"]:
        if mount["name"] in host_paths and mount["name"] != "positions":
            assert mount.get("readOnly") is True, mount
    assert set(host_paths.values()) == {
        "/var/log/pods", "/var/lib/docker/containers", "/var/lib/cas-promtail"
    }  # fmt: skip
    # promtail lists the pods of cas, nothing else.
    binding = objs[("RoleBinding", "promtail")]
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "promtail", "namespace": LOGS_NAMESPACE}
    ]


def test_promtail_in_the_cluster_sets_the_labels_the_logs_dashboard_selects() -> None:
    objs = objs_by_name("k8s/monitoring")
    config = yaml.safe_load(objs[("ConfigMap", "promtail-config")]["data"]["promtail.yml"])
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == [NAMESPACE]
    port = objs[("Service", "loki")]["spec"]["ports"][0]["port"]
    assert config["clients"][0]["url"] == f"http://loki:{port}/loki/api/v1/push"
    # The service label of every pod the stack runs, as the relabelling computes it.
    services = set()
    for pod in ("casserver-0", "casserver-2", "cacheserver-0", "cacheserver-3", "loadclient-x"):
        app = pod.rsplit("-", 1)[0]
        service = app
        for rule in job["relabel_configs"]:
            if rule.get("target_label") == "service" and "regex" in rule:
                match = re.fullmatch(rule["regex"], pod)
                if match:
                    service = match.expand(rule["replacement"].replace("$1", r"\1"))
        services.add(service)
    assert services == {"casserver", "cache0", "cache3", "loadclient"}
    dashboard_regex = (
        "casserver|cache[0-9]+|loadclient"  # monitoring/grafana/dashboards/cas-logs.json
    )
    assert all(re.fullmatch(dashboard_regex, s) for s in services)
    assert dashboard_regex in (ROOT / "k8s/monitoring/cas-logs.json").read_text()


def test_grafana_in_the_cluster_reaches_loki_in_its_namespace() -> None:
    objs = objs_by_name("k8s/monitoring")
    data = objs[("ConfigMap", "grafana-datasources")]["data"]["datasources.yml"]
    loki = next(s for s in yaml.safe_load(data)["datasources"] if s["type"] == "loki")
    assert loki["uid"] == "loki"
    port = objs[("Service", "loki")]["spec"]["ports"][0]["port"]
    assert loki["url"] == f"http://loki.{LOGS_NAMESPACE}:{port}"


# Files k8s/monitoring/ carries copies of, since kustomize reads nothing outside it.
COPIES = {
    "cas-harness.rules.yml": "monitoring/prometheus/rules/cas-harness.rules.yml",
    "grafana-dashboards.yml": "monitoring/grafana/provisioning/dashboards/dashboards.yml",
    "cas-overview.json": "monitoring/grafana/dashboards/cas-overview.json",
    "cas-logs.json": "monitoring/grafana/dashboards/cas-logs.json",
    "loki.yml": "monitoring/loki/loki.yml",
}


@pytest.mark.parametrize(("copy", "original"), COPIES.items())
def test_monitoring_overlay_copies_are_identical(copy: str, original: str) -> None:
    assert (ROOT / "k8s/monitoring" / copy).read_text() == (ROOT / original).read_text()


def test_monitoring_config_maps_hold_what_the_pods_mount() -> None:
    objs = objs_by_name("k8s/monitoring")
    keys = {
        "prometheus-config": {"prometheus.yml", "cas-harness.rules.yml"},
        "grafana-datasources": {"datasources.yml"},
        "grafana-dashboard-providers": {"dashboards.yml"},
        "grafana-dashboards": {"cas-overview.json", "cas-logs.json"},
        "loki-config": {"loki.yml"},
        "promtail-config": {"promtail.yml"},
    }
    for name, expected in keys.items():
        assert set(objs[("ConfigMap", name)]["data"]) == expected
    for kind, name in (("Deployment", "prometheus"), ("Deployment", "grafana"),
                       ("Deployment", "loki"), ("DaemonSet", "promtail")):  # fmt: skip
        spec = pod_spec(objs[(kind, name)])
        assert spec is not None
        for volume in spec["volumes"]:
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in objs


def test_grafana_in_the_cluster_uses_the_cluster_prometheus() -> None:
    objs = objs_by_name("k8s/monitoring")
    data = objs[("ConfigMap", "grafana-datasources")]["data"]["datasources.yml"]
    (source,) = [s for s in yaml.safe_load(data)["datasources"] if s["type"] == "prometheus"]
    assert source["uid"] == "prometheus"
    port = objs[("Service", "prometheus")]["spec"]["ports"][0]["port"]
    assert source["url"] == f"http://prometheus:{port}"


def test_inline_python_is_valid() -> None:
    found = 0
    for obj in workloads("k8s"):
        for container in containers(obj, init=True):
            command = container.get("command", [])
            if command[:2] == ["python", "-c"]:
                compile(command[2], container["name"], "exec")
                found += 1
    assert found == 1, "the loadclient Job's wait-for-stack init container"


def test_shared_storage_runs_several_casservers_on_one_shared_claim() -> None:
    objs = objs_by_name("k8s/shared-storage")
    sts = objs[("StatefulSet", "casserver")]
    assert sts["spec"]["replicas"] > 1
    assert "volumeClaimTemplates" not in sts["spec"]
    claims = [v for v in sts["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    (volume,) = claims
    claim = objs[("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (container,) = containers(sts, init=False)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[volume["name"]] == env_of(container)["CAS_STORAGE_DIR"]
    # One Service in front of them all, and drains take one at a time.
    selector = objs[("Service", "casserver")]["spec"]["selector"]
    assert selector.items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert objs[("PodDisruptionBudget", "casserver")]["spec"]["maxUnavailable"] == 1
    # Everything else is the base stack, unchanged.
    assert set(objs) == EXPECTED | {("PersistentVolumeClaim", claim["metadata"]["name"])}
