"""Running a fault script's module as CI does: a real subprocess, its JSON and stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ScriptRun:
    """ScriptRun is one finished fault script: exit code, its --output JSON, its stdout."""

    code: int
    result: dict[str, Any]
    stdout: str


def run_script(module: str, args: list[str], work: Path) -> ScriptRun:
    """Run_script runs ``python -m module args`` with a work dir and returns what it wrote."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args, "--workdir", str(work / "run"),
         "--output", str(work / "out.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return ScriptRun(done.returncode, json.loads((work / "out.json").read_text()), done.stdout)
