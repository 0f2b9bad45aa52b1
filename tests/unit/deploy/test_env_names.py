"""Every environment variable compose and Kubernetes set is one its program reads."""

from __future__ import annotations

from functools import cache

import pytest

from tests.unit.deploy.manifests import (
    ROOT,
    containers,
    kustomize_build,
    load_yaml,
    program_of,
    source_strings,
)

# The programs' documented interfaces (DESIGN.md and their issues).
DOCUMENTED = {
    "casserver": {
        "CAS_SERVER_HOST",
        "CAS_SERVER_PORT",
        "CAS_STORAGE_DIR",
        "CAS_MAX_BLOB_BYTES",
        "CAS_WORKERS",
        "CAS_THREADS",
        "LOG_LEVEL",
    },
    "cacheserver": {
        "LISTEN_PORT",
        "CACHE_HOST",
        "CAS_SERVER_ADDR",
        "CAS_SERVER_URL",
        "CACHE_PEERS",
        "CACHE_SELF",
        "CACHE_PEERS_DNS",
        "POD_IP",
        "CACHE_BYTES",
        "CACHE_MAX_ITEM_BYTES",
        "CACHE_THREADS",
        "LOG_LEVEL",
    },
    "loadclient": {
        "CAS_SERVER_ADDR",
        "CACHE_SERVER_ADDR",
        "CONTENT_SIZE",
        "ATTACK_FREQ",
        "ATTACK_DURATION",
        "HIT_MISS_RATIO",
    },
}


def compose_env() -> list[tuple[str, str, set[str]]]:
    services = load_yaml(ROOT / "docker-compose.yml")["services"]
    out = []
    for name, svc in services.items():
        program = program_of(svc.get("command"))
        if program:
            out.append((f"compose:{name}", program, set(svc.get("environment") or {})))
    return out


def k8s_env() -> list[tuple[str, str, set[str]]]:
    out = []
    for obj in kustomize_build(ROOT / "k8s"):
        for container in containers(obj, init=True):
            program = program_of(container.get("command"))
            if program:
                names = {e["name"] for e in container.get("env", [])}
                out.append((f"k8s:{obj['metadata']['name']}", program, names))
    return out


@cache
def read_by(program: str) -> frozenset[str]:
    return frozenset(source_strings(program))


USES = compose_env() + k8s_env()


def test_every_program_is_deployed_both_ways() -> None:
    assert {(where.split(":")[0], program) for where, program, _ in USES} == {
        (where, program) for where in ("compose", "k8s") for program in DOCUMENTED
    }


@pytest.mark.parametrize(("where", "program", "names"), USES, ids=[u[0] for u in USES])
def test_env_names_are_documented(where: str, program: str, names: set[str]) -> None:
    assert names <= DOCUMENTED[program], f"{where}: {sorted(names - DOCUMENTED[program])}"


@pytest.mark.parametrize(("where", "program", "names"), USES, ids=[u[0] for u in USES])
def test_env_names_are_read_by_the_program(where: str, program: str, names: set[str]) -> None:
    assert names <= read_by(program), f"{where}: {sorted(names - read_by(program))}"


def test_documented_names_are_read_by_the_programs() -> None:
    for program, names in DOCUMENTED.items():
        assert names <= read_by(program), f"{program}: {sorted(names - read_by(program))}"
