"""Every environment variable compose and Kubernetes set is one its program reads."""

from __future__ import annotations

import importlib
import re

import pytest

from cascommon.settings import env_names
from tests.unit.deploy.manifests import (
    ROOT,
    containers,
    k8s_values,
    kustomize_build,
    load_yaml,
    program_of,
)

# Names deployments and the Go original's users rely on: they must stay readable.
INTERFACES = {
    "casserver": {
        "CAS_SERVER_HOST",
        "CAS_SERVER_PORT",
        "CAS_STORAGE_DIR",
        "CAS_MAX_BLOB_BYTES",
        "CAS_WORKERS",
        "CAS_THREADS",
        "LOG_LEVEL",
        "CAS_SERVER",
        "CAS_WRITE_TOKEN",
        "CAS_READ_TOKEN",
        "CAS_METRICS_PORT",
        "CAS_MAX_BYTES",
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
        "CACHE_PEER_PORT",
        "CACHE_PEER_TOKEN",
        "CACHE_ORIGIN_TOKEN",
        "POD_NAME",
        "CACHE_METRICS_PORT",
    },
    "loadclient": {
        "CAS_SERVER_ADDR",
        "CACHE_SERVER_ADDR",
        "CONTENT_SIZE",
        "ATTACK_FREQ",
        "ATTACK_DURATION",
        "HIT_MISS_RATIO",
        "CAS_WRITE_TOKEN",
    },
}


# What docs/configuration.md documents: every name each program's settings read.
DOCUMENTED = {
    program: set(env_names(importlib.import_module(f"{program}.config").SETTINGS.items))
    for program in INTERFACES
}


def test_interface_names_are_documented_settings() -> None:
    for program, names in INTERFACES.items():
        assert names <= DOCUMENTED[program], f"{program}: {sorted(names - DOCUMENTED[program])}"


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


USES = compose_env() + k8s_env()


def test_every_program_is_deployed_both_ways() -> None:
    assert {(where.split(":")[0], program) for where, program, _ in USES} == {
        (where, program) for where in ("compose", "k8s") for program in DOCUMENTED
    }


@pytest.mark.parametrize(("where", "program", "names"), USES, ids=[u[0] for u in USES])
def test_env_names_are_documented(where: str, program: str, names: set[str]) -> None:
    assert names <= DOCUMENTED[program], f"{where}: {sorted(names - DOCUMENTED[program])}"


def environments() -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for name, svc in load_yaml(ROOT / "docker-compose.yml")["services"].items():
        program = program_of(svc.get("command"))
        if program:
            # Compose substitutes ${VAR:-default}; the defaults are what CI would see.
            env = {
                k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v))
                for k, v in (svc.get("environment") or {}).items()
            }
            out.append((f"compose:{name}", program, env))
    for obj in kustomize_build(ROOT / "k8s"):
        for container in containers(obj, init=False):
            program = program_of(container.get("command"))
            if program:
                out.append((f"k8s:{obj['metadata']['name']}", program, k8s_values(container)))
    return out


ENVIRONMENTS = environments()


@pytest.mark.parametrize(
    ("where", "program", "env"), ENVIRONMENTS, ids=[e[0] for e in ENVIRONMENTS]
)
def test_the_program_accepts_the_values(where: str, program: str, env: dict[str, str]) -> None:
    """The program's own Config.from_env takes every value as deployed."""
    config = importlib.import_module(f"{program}.config").Config.from_env(env)
    if program == "casserver":
        assert str(config.storage_dir) == "/data"
    elif program == "cacheserver":
        assert config.origin_url == "http://casserver:5000"
        assert config.member_url in {*config.peers, "http://cacheserver-0.cacheserver-peers:18002"}
    else:
        config.validate()
        assert config.cas_url == "http://casserver:5000"
