"""A passing test run leaves nothing in the system temp dir."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LITTERING_TEST = """
import subprocess, tempfile

def test_writes_everywhere(tmp_path):
    (tmp_path / "blob").write_bytes(b"x" * 1000)
    tempfile.mkdtemp(prefix="left-")
    subprocess.run(["mktemp", "-d"], check=True)
"""


def test_a_passing_run_removes_its_temp_dirs_and_those_of_its_children(tmp_path: Path) -> None:
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    (tmp_path / "test_littering.py").write_text(LITTERING_TEST)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         str(tmp_path / "test_littering.py")],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(system_tmp)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    left = sorted(p.relative_to(system_tmp).as_posix() for p in system_tmp.rglob("*"))
    assert left in ([], [f"pytest-of-{getpass.getuser()}"]), left
