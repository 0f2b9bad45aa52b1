"""docker-compose.yml: the stack's services, their wiring, health and hardening."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.unit.deploy.manifests import ROOT, load_yaml, program_of

CACHES = ("cache1", "cache2", "cache3")
APPS = ("casserver", *CACHES, "loadclient")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(ROOT / "docker-compose.yml")
    return data


def services() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]
    return result


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (services()[service].get("environment") or {}).items()}


def test_services() -> None:
    assert set(services()) == {*APPS, "prometheus", "grafana", "loki", "promtail"}


@pytest.mark.parametrize("name", APPS)
def test_app_services_share_one_hardened_image(name: str) -> None:
    svc = services()[name]
    assert svc["image"] == services()["casserver"]["image"]
    # One builds; the others use its image and never pull it (nobody publishes it).
    if name == "casserver":
        assert svc["build"] == "." and svc["pull_policy"] == "if_not_present"
    else:
        assert "build" not in svc and svc["pull_policy"] == "never"
        assert "casserver" in svc["depends_on"]  # created after the build
    assert program_of(svc["command"]) == ("cacheserver" if name in CACHES else name)
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in svc["security_opt"]
    assert "/tmp" in svc["tmpfs"]


def test_casserver_stores_on_a_volume() -> None:
    storage = env("casserver")["CAS_STORAGE_DIR"]
    mounts = [v.split(":") for v in services()["casserver"]["volumes"]]
    assert [name for name, target, *_ in mounts if target == storage] == ["cas-data"]
    assert "cas-data" in compose()["volumes"]


def test_cache_ring_lists_every_member_and_each_knows_itself() -> None:
    for name in CACHES:
        e = env(name)
        peers = e["CACHE_PEERS"].split(",")
        # Peer base URLs: the peer port, apart from the clients' 18001.
        assert e["CACHE_PEER_PORT"] == "18002"
        assert peers == [f"http://{c}:18002" for c in CACHES]
        assert e["CACHE_SELF"] == f"http://{name}:18002"
        assert e["CAS_SERVER_ADDR"] == "casserver:5000"


@pytest.mark.parametrize(("name", "port"), [("casserver", 5000)] + [(c, 18001) for c in CACHES])
def test_servers_have_readiness_healthchecks(name: str, port: int) -> None:
    check = services()[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(check["test"])


def test_loadclient_is_one_shot_after_healthy_servers() -> None:
    svc = services()["loadclient"]
    assert svc["restart"] == "no"
    assert svc["profiles"] == ["load"]
    assert svc["depends_on"] == {
        name: {"condition": "service_healthy"} for name in ("casserver", *CACHES)
    }
    e = env("loadclient")
    assert e["CAS_SERVER_ADDR"] == "casserver:5000"
    # "cache" is a network alias that every member carries.
    assert e["CACHE_SERVER_ADDR"] == "cache:18001"
    for name in CACHES:
        assert "cache" in services()[name]["networks"]["default"]["aliases"]


def test_bind_mounts_exist() -> None:
    for name, svc in services().items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_ports_bind_to_loopback_only() -> None:
    for name, svc in services().items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all addresses"


def test_prometheus_scrapes_every_server() -> None:
    config = load_yaml(ROOT / "monitoring/prometheus/prometheus.yml")
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["casserver"] == ["casserver:5000"]
    assert targets["cacheserver"] == [f"{c}:18001" for c in CACHES]


def test_promtail_keeps_the_app_containers() -> None:
    config = load_yaml(ROOT / "monitoring/promtail/promtail.yml")
    (sd,) = config["scrape_configs"][0]["docker_sd_configs"]
    ((label, value),) = services()["casserver"]["labels"].items()
    assert sd["filters"] == [{"name": "label", "values": [f"{label}={value}"]}]
    for name in APPS:
        assert services()[name]["labels"] == {label: value}
    assert config["clients"][0]["url"].startswith("http://loki:3100/")


def test_grafana_home_dashboard_is_mounted() -> None:
    svc = services()["grafana"]
    home = svc["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
    directory, _, filename = home.rpartition("/")
    assert (ROOT / mounts[directory] / filename).is_file()


def compose_v2() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    return docker if probe.returncode == 0 else None


@pytest.mark.skipif(compose_v2() is None, reason="docker compose v2 is not installed")
def test_docker_compose_accepts_the_file() -> None:
    docker = compose_v2()
    assert docker is not None
    subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "--profile", "load"]
        + ["config", "--quiet"],
        check=True,
        cwd=ROOT,
    )


def test_no_top_level_name_which_docker_compose_1_29_refuses() -> None:
    assert set(compose()) == {"services", "volumes"} | {k for k in compose() if k.startswith("x-")}


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed"
)
def test_docker_compose_1_29_accepts_the_file() -> None:
    """Debian 12's docker-compose (1.29) validates the file against its own schema."""
    docker_compose = shutil.which("docker-compose")
    assert docker_compose is not None
    version = subprocess.run([docker_compose, "version", "--short"], capture_output=True, text=True)
    assert version.stdout.startswith("1.")
    subprocess.run(
        [docker_compose, "-f", str(ROOT / "docker-compose.yml"), "--profile", "load"]
        + ["config", "--quiet"],
        check=True,
        cwd=ROOT,
    )


def test_image_tag_is_overridable() -> None:
    assert re.fullmatch(r"\$\{CAS_IMAGE:-[\w.-]+:[\w.-]+\}", services()["casserver"]["image"])


def test_healthcheck_snippets_are_valid_python() -> None:
    for name, svc in services().items():
        test = svc.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")
