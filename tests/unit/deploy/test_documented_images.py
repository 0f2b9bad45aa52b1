"""Every image a documented command runs is a tag that the scripts build.

The documented commands (README.md and docs/) are run in any order after the scripts:
`kubectl apply -k` of a tree, `docker run`, `docker compose`. Each must find the image the
scripts left, or (with imagePullPolicy IfNotPresent) pods roll to a tag nobody built and
stay unpulled.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy.manifests import ROOT, containers, kustomize_build, load_yaml, program_of
from tests.unit.deploy.test_scripts import built_images, run

PROJECT_IMAGE = re.compile(r"^cas-harness(:|$)")


def documented_commands() -> list[str]:
    """Return the documented commands (README.md, docs/): code blocks and inline code."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    readme = "\n".join(path.read_text() for path in docs)
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", readme, flags=re.S))
    lines = [line.split("#")[0] for block in blocks for line in block.splitlines()]
    # Commands chained with && or ; are separate commands.
    return [c.strip() for text in lines + inline for c in re.split(r"&&|;", text) if c.strip()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Built is every tag scripts/k8s-up and scripts/compose-up leave behind."""
    _, calls = run("k8s-up", tmp_path_factory.mktemp("k8s"), "--no-load")
    tags = built_images(calls)
    _, calls = run("compose-up", tmp_path_factory.mktemp("compose"), "--no-load")
    assert "docker compose build casserver" in calls
    tags.add(compose_image("casserver"))
    return tags


def compose_image(service: str) -> str:
    image = str(load_yaml(ROOT / "docker-compose.yml")["services"][service]["image"])
    # ${CAS_IMAGE:-default}: what compose uses when CAS_IMAGE is unset.
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", image)


def images_of(command: str) -> set[str]:
    """Images_of lists the project images a command would run, or nothing for other commands."""
    words = command.split()
    if words[:3] == ["kubectl", "apply", "-k"] or words[:2] == ["kubectl", "kustomize"]:
        tree = ROOT / words[-1]
        return {
            c["image"]
            for obj in kustomize_build(tree)
            for c in containers(obj, init=True)
            if PROJECT_IMAGE.match(c["image"])
        }
    if words[:2] == ["docker", "run"]:
        return {w for w in words[2:] if PROJECT_IMAGE.match(w)}
    if words[:2] == ["docker", "compose"]:
        services = load_yaml(ROOT / "docker-compose.yml")["services"]
        return {
            compose_image(name) for name, svc in services.items() if program_of(svc.get("command"))
        }
    return set()


COMMANDS = [c for c in documented_commands() if c.split()[:1] in (["kubectl"], ["docker"])]


def test_the_readme_documents_commands_that_run_the_image() -> None:
    assert any(c.startswith("kubectl apply -k") for c in COMMANDS)
    assert any(c.startswith("docker run") for c in COMMANDS)
    assert any(c.startswith("docker compose") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_image_is_built_by_the_scripts(built: set[str], command: str) -> None:
    assert images_of(command) <= built, command


def test_a_manual_build_makes_the_same_tag(built: set[str]) -> None:
    builds = [c for c in documented_commands() if " image build " in c or "docker build" in c]
    assert builds
    for command in builds:
        assert command.split(" -t ")[1].split()[0] in built, command
