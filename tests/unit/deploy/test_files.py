"""Every deployment file parses, and the deploy scripts are sound shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.deploy.manifests import ROOT, load_yaml_all

YAML_FILES = sorted(
    [ROOT / "docker-compose.yml"]
    + [p for d in ("k8s", "monitoring") for p in (ROOT / d).rglob("*.y*ml")]
)
JSON_FILES = sorted((ROOT / "monitoring").rglob("*.json"))
SCRIPTS = [ROOT / "scripts" / name for name in ("compose-up", "k8s-up")]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_there_is_something_to_check() -> None:
    assert len(YAML_FILES) >= 15
    assert JSON_FILES


@pytest.mark.parametrize("path", YAML_FILES, ids=rel)
def test_yaml_parses(path: Path) -> None:
    docs = load_yaml_all(path)
    assert docs, f"{rel(path)} is empty"
    assert all(isinstance(doc, dict) for doc in docs)


@pytest.mark.parametrize("path", JSON_FILES, ids=rel)
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


@pytest.mark.parametrize("path", SCRIPTS, ids=rel)
def test_script_is_executable_strict_bash(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(path, os.X_OK)
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_scripts_pass_shellcheck() -> None:
    subprocess.run(["shellcheck", *map(str, SCRIPTS)], check=True)
