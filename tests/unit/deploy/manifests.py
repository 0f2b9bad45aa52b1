"""Loading the deployment files as data: kustomize output, compose services, env and metric names.

Everything here works offline and without Docker or a cluster. ``kubectl kustomize`` is
used when it is installed; otherwise ``build_without_kubectl`` renders the small subset
of kustomize that ``k8s/`` uses (a test compares the two wherever kubectl exists).
"""

from __future__ import annotations

import ast
import copy
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = ("casserver", "cacheserver", "loadclient")

Obj = dict[str, Any]

# Kinds that live outside any namespace (kustomize leaves them alone).
CLUSTER_KINDS = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def load_yaml(path: Path) -> Any:
    """Load_yaml parses a one-document YAML file."""
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    """Load_yaml_all parses every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kustomize_build(directory: Path) -> list[Obj]:
    """Kustomize_build renders directory with kubectl when present, else without it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return build_without_kubectl(directory)
    return kubectl_build(kubectl, directory)


def kubectl_build(kubectl: str, directory: Path) -> list[Obj]:
    """Kubectl_build renders directory with `kubectl kustomize`."""
    out = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc is not None]


def build_without_kubectl(directory: Path) -> list[Obj]:
    """Build_without_kubectl renders the kustomize subset k8s/ uses.

    That is: ``resources`` (files or kustomization directories), ``namespace``,
    ``labels`` on metadata only, ``images``, ``configMapGenerator`` from files
    (``path`` or ``key=path``) with ``generatorOptions.disableNameSuffixHash``, and
    ``patches`` in JSON 6902 form (add, replace, remove) aimed by kind and name.
    Anything else is refused rather than silently ignored.
    """
    kustomization = load_yaml(directory / "kustomization.yaml")
    known = {
        "apiVersion",
        "kind",
        "namespace",
        "labels",
        "resources",
        "images",
        "configMapGenerator",
        "generatorOptions",
        "patches",
    }
    unknown = set(kustomization) - known
    if unknown:
        raise NotImplementedError(f"{directory}: kustomize fields {sorted(unknown)}")
    objs: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objs += build_without_kubectl(path) if path.is_dir() else load_yaml_all(path)
    objs += _generated_config_maps(directory, kustomization)
    for entry in kustomization.get("patches", []):
        _patch(objs, entry)
    for obj in objs:
        _transform(obj, kustomization)
    return objs


def _generated_config_maps(directory: Path, kustomization: Obj) -> list[Obj]:
    generators = kustomization.get("configMapGenerator", [])
    if generators and not kustomization.get("generatorOptions", {}).get("disableNameSuffixHash"):
        raise NotImplementedError("configMapGenerator without disableNameSuffixHash")
    maps = []
    for gen in generators:
        data = {}
        for entry in gen["files"]:
            # "key=path" names the key; a bare path is keyed by its file name.
            key, _, path = entry.rpartition("=")
            data[key or Path(path).name] = (directory / path).read_text()
        meta = {"name": gen["name"]}
        if "namespace" in gen:
            meta["namespace"] = gen["namespace"]
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
    return maps


def _patch(objs: list[Obj], entry: Obj) -> None:
    ops = yaml.safe_load(entry["patch"])
    if not isinstance(ops, list) or set(entry["target"]) - {"kind", "name"}:
        raise NotImplementedError("only JSON 6902 patches aimed by kind and name")
    target = entry["target"]
    for obj in objs:
        if (obj["kind"], obj["metadata"]["name"]) == (target["kind"], target["name"]):
            for op in ops:
                *parents, last = [
                    part.replace("~1", "/").replace("~0", "~") for part in op["path"][1:].split("/")
                ]
                node: Any = obj
                for part in parents:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                if op["op"] == "remove":
                    del node[int(last) if isinstance(node, list) else last]
                elif op["op"] == "add" and isinstance(node, list):
                    node.insert(len(node) if last == "-" else int(last), op["value"])
                elif op["op"] in ("add", "replace"):
                    node[int(last) if isinstance(node, list) else last] = op["value"]
                else:
                    raise NotImplementedError(f"patch op {op['op']}")


def _transform(obj: Obj, kustomization: Obj) -> None:
    meta = obj.setdefault("metadata", {})
    namespace = kustomization.get("namespace")
    if namespace and obj["kind"] not in CLUSTER_KINDS:
        meta["namespace"] = namespace
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise NotImplementedError("labels with includeSelectors/includeTemplates")
        meta.setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        for container in containers(obj, init=True):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_name = image.get("newName", name)
                container["image"] = f"{new_name}:{image.get('newTag', tag)}".rstrip(":")


def pod_spec(obj: Obj) -> Obj | None:
    """Pod_spec returns the pod template spec of a workload, or None for other kinds."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    return template["spec"] if isinstance(template, dict) else None


def containers(obj: Obj, *, init: bool) -> Iterator[Obj]:
    """Containers yields a workload's containers, and its init containers when init is set."""
    spec = pod_spec(obj)
    if spec is None:
        return
    yield from spec.get("containers", [])
    if init:
        yield from spec.get("initContainers", [])


def program_of(command: list[str] | str | None) -> str | None:
    """Program_of names which of our programs a container command runs, if any."""
    if not command:
        return None
    first = command.split()[0] if isinstance(command, str) else command[0]
    return first if first in PROGRAMS else None


# Values the kubelet would fill in for the first pod of a StatefulSet: the downward API
# and Secrets (whose content is never checked in).
FIELD_VALUES = {"status.podIP": "10.244.0.7", "metadata.name": "{pod}"}
SECRET_VALUE = "token-from-a-secret"


def k8s_values(container: Obj, pod: str = "cacheserver-0") -> dict[str, str]:
    """K8s_values resolves a container's env as the kubelet would ($(VAR), fieldRef, secrets)."""
    out: dict[str, str] = {}
    for var in container.get("env", []):
        source = var.get("valueFrom")
        if source is None:
            out[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: out[m.group(1)], var["value"])
        elif "secretKeyRef" in source:
            out[var["name"]] = SECRET_VALUE
        else:
            out[var["name"]] = FIELD_VALUES[source["fieldRef"]["fieldPath"]].format(pod=pod)
    return out


def index(objs: list[Obj]) -> dict[tuple[str, str], Obj]:
    """Index maps (kind, name) to each object."""
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def normalized(objs: list[Obj]) -> dict[tuple[str, str, str], Obj]:
    """Normalized keys objects by kind, namespace and name, for order-free comparison."""
    out = {}
    for obj in copy.deepcopy(objs):
        meta = obj["metadata"]
        out[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    return out


def source_strings(package: str) -> set[str]:
    """Source_strings collects every string constant in a package's modules (and cascommon)."""
    found: set[str] = set()
    for pkg in (package, "cascommon"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


# Metric names from the Prometheus text format's TYPE lines, and the sample names each
# type exposes.
_SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "untyped": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def exposed_names(text: str) -> set[str]:
    """Exposed_names lists the series names a /metrics page can produce, samples or not."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.update(name + suffix for suffix in _SUFFIXES[kind.strip()])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


_PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "bool", "inf", "nan", "le"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKENS = re.compile(r"(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|(?P<id>[A-Za-z_:][A-Za-z0-9_:]*)")


def promql_metric_names(expr: str) -> set[str]:
    """Promql_metric_names finds the metric names an expression selects.

    Strings, label matchers, range and subquery brackets and grouping clauses are
    removed first; what is left that is neither a function call, a keyword nor a
    number is a metric name.
    """
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _TOKENS.finditer(text):
        name = match.group("id")
        if name is None or name in _PROMQL_KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        names.add(name)
    return names
