"""Fixtures shared by every test package: real server processes on free loopback ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.support import PYTHON, ServerProcess, free_port

Spawn = Callable[..., ServerProcess]


@pytest.fixture(autouse=True, scope="session")
def _temp_dir_inside_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point TMPDIR (ours and every child's: mktemp, servers) into pytest's basetemp.

    pytest removes its basetemp after a passing run, so nothing is left in the system
    temp dir; a failing run keeps it, with everything a test wrote, for a look.
    """
    inside = tmp_path_factory.mktemp("tmpdir", numbered=False)
    before, before_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(inside), str(inside)
    yield
    tempfile.tempdir = before_tempdir
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Spawn starts a server process and stops every one it started at teardown."""
    started: list[ServerProcess] = []

    def _spawn(
        argv: Sequence[str],
        *,
        base_url: str,
        env: Mapping[str, str] | None = None,
        name: str = "server",
        start: bool = True,
    ) -> ServerProcess:
        proc = ServerProcess(
            argv, base_url=base_url, env=env, log_path=tmp_path / f"{name}-{len(started)}.log"
        )
        started.append(proc)
        return proc.start() if start else proc

    yield _spawn
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def casserver(spawn: Spawn, tmp_path: Path) -> Callable[..., ServerProcess]:
    """Casserver starts a real casserver on a free loopback port.

    Call it as ``casserver(storage=path, workers=2, env={...}, server="gunicorn")``; every
    argument is optional (the server defaults to casserver's own default, granian).
    """

    def _start(
        *,
        storage: Path | None = None,
        workers: int = 2,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
        server: str | None = None,
    ) -> ServerProcess:
        port = port or free_port()
        storage = storage or tmp_path / "cas-data"
        argv = [
            PYTHON, "-m", "casserver",
            "--host", "127.0.0.1", "--port", str(port),
            "--storage", str(storage), "--workers", str(workers),
        ]  # fmt: skip
        if server is not None:
            argv += ["--server", server]
        # Its metrics directory goes in the test's tmp dir: one a SIGKILLed server leaves
        # is then pytest's to clean, not /tmp's to collect.
        env = {"TMPDIR": str(tmp_path), **(env or {})}
        return spawn(
            argv, base_url=f"http://127.0.0.1:{port}", env=env, name="casserver", start=start
        )

    return _start
