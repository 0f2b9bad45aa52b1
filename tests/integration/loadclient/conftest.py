"""Fixtures for loadclient's integration tests: the fault-injecting fake CAS and a CLI runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Spawn
from tests.support import PYTHON, ServerProcess, cacheserver_argv, free_port

HERE = Path(__file__).parent
REPO = HERE.parents[2]


@pytest.fixture
def fakecas(spawn: Spawn) -> Callable[..., ServerProcess]:
    """Fakecas starts fakecas.py on a free port; keyword options become its flags."""

    def _start(**options: Any) -> ServerProcess:
        port = free_port()
        argv = [PYTHON, str(HERE / "fakecas.py"), "--port", str(port)]
        for name, value in options.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        return spawn(argv, base_url=f"http://127.0.0.1:{port}", name="fakecas")

    return _start


@dataclass
class Run:
    """Run is one finished `loadclient` process."""

    code: int
    report: dict[str, Any] | None
    stderr: str


# Other work shares this machine's cores: a run whose own send lag passes the default limit
# would exit 4 (generator behind) although the server was fine. Tests about that set it lower.
LAG_TOLERANT = ("--max-send-lag", "1s")


def run_loadclient(
    *args: str,
    timeout_s: float = 30.0,
    cwd: Path = REPO,
    wrap: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Run:
    """Run_loadclient runs `python -m loadclient run ARGS` as a real process; JSON from stdout.

    wrap is a command line to run it under (e.g. a shell that sets ulimit first); env is
    added to this process's environment.
    """
    extra = () if "--max-send-lag" in args else LAG_TOLERANT
    proc = subprocess.run(
        [*wrap, PYTHON, "-m", "loadclient", "run", *extra, *args],
        capture_output=True, text=True, timeout=timeout_s, cwd=cwd,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return Run(proc.returncode, report, proc.stderr)


@pytest.fixture
def cacheserver(spawn: Spawn) -> Callable[..., ServerProcess]:
    """Cacheserver starts one cacheserver ring member (its own only peer) before an origin."""

    def _start(origin: str) -> ServerProcess:
        port = free_port()
        argv = cacheserver_argv(port=port, peer_port=free_port(), origin=origin)
        return spawn(argv, base_url=f"http://127.0.0.1:{port}", name="cacheserver")

    return _start


Fault = Callable[..., str]


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(2000))
    return path


@pytest.fixture
def fault(spawn: Spawn, blob: Path) -> Fault:
    """Fault starts faultserver.py in a mode; it returns the faulty server's base URL."""

    def _start(mode: str, **options: Any) -> str:
        port, health = free_port(), free_port()
        argv = [PYTHON, str(HERE / "faultserver.py"), "--port", str(port),
                "--health-port", str(health), "--mode", mode, "--blob", str(blob)]  # fmt: skip
        for name, value in options.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        spawn(argv, base_url=f"http://127.0.0.1:{health}", name=f"fault-{mode}")
        return f"http://127.0.0.1:{port}"

    return _start


def interruptible(argv: Sequence[str]) -> subprocess.Popen[str]:
    """Interruptible starts argv with Ctrl-C at its default (a shell may have ignored it)."""
    return subprocess.Popen(
        argv, cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def interrupt(proc: subprocess.Popen[str], timeout_s: float = 20.0) -> tuple[str, str]:
    """Interrupt sends proc Ctrl-C and returns its stdout and stderr (killed if it hangs)."""
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout_s)
    finally:
        proc.kill()
        proc.wait()
