"""Bearer tokens are wired alike in compose and Kubernetes, and optional in both."""

from __future__ import annotations

from typing import Any

from tests.unit.deploy.manifests import ROOT, containers, kustomize_build, load_yaml, program_of

# (program, variable) -> the Secret it comes from in Kubernetes, and the compose variable.
WIRING = {
    ("casserver", "CAS_WRITE_TOKEN"): ("cas-write-token", "CAS_WRITE_TOKEN"),
    ("casserver", "CAS_READ_TOKEN"): ("cas-read-token", "CAS_READ_TOKEN"),
    ("cacheserver", "CACHE_ORIGIN_TOKEN"): ("cas-read-token", "CAS_READ_TOKEN"),
    ("loadclient", "CAS_WRITE_TOKEN"): ("cas-write-token", "CAS_WRITE_TOKEN"),
}


def _env_by_program() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in kustomize_build(ROOT / "k8s"):
        for container in containers(obj, init=False):
            program = program_of(container.get("command"))
            if program:
                out.setdefault(program, []).append({e["name"]: e for e in container.get("env", [])})
    return out


def test_k8s_tokens_come_from_optional_secrets() -> None:
    by_program = _env_by_program()
    for (program, variable), (secret, _) in WIRING.items():
        for env in by_program[program]:
            ref = env[variable]["valueFrom"]["secretKeyRef"]
            # Optional: the stack runs open until an operator makes the Secret.
            assert ref == {"name": secret, "key": "token", "optional": True}, program


def test_compose_passes_the_tokens_through_when_set() -> None:
    services = load_yaml(ROOT / "docker-compose.yml")["services"]
    for name, svc in services.items():
        program = program_of(svc.get("command"))
        for (wanted, variable), (_, outer) in WIRING.items():
            if program == wanted:
                assert svc["environment"][variable] == f"${{{outer}:-}}", name
