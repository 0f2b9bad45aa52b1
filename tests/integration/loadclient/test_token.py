"""The write token against a real casserver with CAS_WRITE_TOKEN, behind a real cacheserver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.integration.loadclient.conftest import run_loadclient
from tests.support import ServerProcess

TOKEN = "loadclient-write-token"
Start = Callable[..., ServerProcess]


def _attack(cas: ServerProcess, cache: ServerProcess, *extra: str) -> list[str]:
    return [
        "--cas", cas.base_url, "--cache", cache.base_url, "--rate", "50/1s",
        "--duration", "1s", "--seed", "tokens", *extra,
    ]  # fmt: skip


def test_uploads_carry_the_token_and_the_attack_goes_through_the_tier(
    casserver: Start, cacheserver: Callable[[str], ServerProcess], tmp_path: Path
) -> None:
    cas = casserver(env={"CAS_WRITE_TOKEN": TOKEN})
    cache = cacheserver(cas.base_url)
    # The hot blob and fresh miss blobs, the token from the flag.
    run = run_loadclient(*_attack(cas, cache, "--hit-ratio", "0.8", "--token", TOKEN))
    assert run.code == 0, run.stderr
    assert run.report is not None and run.report["success"] == 1.0
    assert run.report["blob"]["fresh_blobs"] > 0
    # --keys blobs, the token from a mounted-Secret-like file named by the environment.
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    run = run_loadclient(
        *_attack(cas, cache, "--keys", "5"), env={"CAS_WRITE_TOKEN_FILE": str(secret)}
    )
    assert run.code == 0, run.stderr
    assert run.report is not None and run.report["success"] == 1.0
    assert TOKEN not in run.stderr and TOKEN not in repr(run.report)


def test_without_or_with_a_wrong_token_the_run_cannot_happen(
    casserver: Start, cacheserver: Callable[[str], ServerProcess]
) -> None:
    cas = casserver(env={"CAS_WRITE_TOKEN": TOKEN})
    cache = cacheserver(cas.base_url)
    missing = run_loadclient(*_attack(cas, cache))
    assert missing.code == 3 and missing.report is None
    assert "answered 401" in missing.stderr
    assert "wants a write token: pass --token or --token-file" in missing.stderr
    wrong = run_loadclient(*_attack(cas, cache), env={"CAS_WRITE_TOKEN": "not-" + TOKEN})
    assert wrong.code == 3 and "refused the write token" in wrong.stderr
    assert "not-" + TOKEN not in wrong.stderr
