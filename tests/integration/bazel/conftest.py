"""Bazel 2.1.0 from the npm registry, run in batch mode against a copy of a genrule workspace."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.cacheserver.conftest import cache_cluster as cache_cluster  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]
WORKSPACE = Path(__file__).with_name("workspace")
# The genrule actions in WORKSPACE/BUILD: what a second build must take from the cache.
ACTIONS = 4
# Plain output, no user or system bazelrc, a bounded JVM: the same on every machine.
STARTUP = ["--batch", "--nohome_rc", "--nosystem_rc", "--host_jvm_args=-Xmx512m"]
BUILD = ["--color=no", "--curses=no", "--spawn_strategy=local", "--remote_timeout=30"]


@dataclass(frozen=True)
class Processes:
    """Processes is Bazel's own account of a build: "INFO: 4 processes: 4 remote cache hit."."""

    total: int
    kinds: dict[str, int]

    @classmethod
    def parse(cls, output: str) -> Processes:
        match = re.search(r"^INFO: (\d+) process(?:es)?: (.*)\.$", output, re.MULTILINE)
        assert match, output[-3000:]
        kinds = {}
        for part in match.group(2).split(","):
            count, _, kind = part.strip().partition(" ")
            kinds[kind] = int(count)
        return cls(int(match.group(1)), kinds)


@dataclass(frozen=True)
class Bazel:
    """Bazel runs one binary in one workspace; every command is its own batch-mode process."""

    binary: str
    output_user_root: Path
    workspace: Path

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, f"--output_user_root={self.output_user_root}", *STARTUP, *args],
            cwd=self.workspace,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        return output

    def build(self, remote_cache: str, *flags: str) -> Processes:
        """Build builds everything against remote_cache and returns Bazel's process summary."""
        return Processes.parse(
            self.run("build", "//...", f"--remote_cache={remote_cache}", *BUILD, *flags)
        )

    def outputs(self) -> dict[str, bytes]:
        """Outputs are the files the build left in bazel-bin, by name."""
        return {
            p.name: p.read_bytes() for p in (self.workspace / "bazel-bin").iterdir() if p.is_file()
        }


@pytest.fixture(scope="session")
def bazel_binary() -> str:
    """Bazel_binary installs Bazel from the npm registry unless it is in the cache already."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "install-bazel")], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="session")
def output_user_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output_user_root is shared by the session so Bazel unpacks itself once."""
    return tmp_path_factory.mktemp("bazel-root")


@pytest.fixture
def bazel(bazel_binary: str, output_user_root: Path, tmp_path: Path) -> Bazel:
    """Bazel works on a fresh copy of the workspace (it writes bazel-* links into it)."""
    workspace = tmp_path / "workspace"
    shutil.copytree(WORKSPACE, workspace)
    return Bazel(bazel_binary, output_user_root, workspace)
