"""Bearer tokens on a real casserver: set from a file, enforced, never in its logs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import requests

from tests.support import ServerProcess

WRITE = "integration-write-token"
READ = "integration-read-token"


def test_tokens_from_a_file_guard_writes_and_reads_but_not_probes(
    casserver: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    secret = tmp_path / "write-token"
    secret.write_text(WRITE + "\n")
    env = {"CAS_WRITE_TOKEN_FILE": str(secret), "CAS_READ_TOKEN": READ, "CAS_ACCESS_LOG": "1"}
    server = casserver(env=env)  # started: /healthz answered without a token
    data = b"only for members"
    blob = f"{server.base_url}/cas/{hashlib.sha256(data).hexdigest()}"
    action = f"{server.base_url}/ac/{hashlib.sha256(b'action').hexdigest()}"
    write = {"Authorization": f"Bearer {WRITE}"}
    read = {"Authorization": f"Bearer {READ}"}

    refused = requests.put(blob, data=data, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="cas"'
    assert refused.headers["content-type"] == "application/problem+json"
    assert requests.put(action, data=b"r", headers=read, timeout=10).status_code == 401
    assert requests.post(f"{server.base_url}/cas", data=data, timeout=10).status_code == 401
    assert requests.put(blob, data=data, headers=write, timeout=10).status_code == 201
    assert requests.put(action, data=b"r", headers=write, timeout=10).status_code == 200

    for url in (blob, action):
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, headers=read, timeout=10).status_code == 200
        assert requests.head(url, headers=write, timeout=10).status_code == 200
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert requests.get(server.base_url + probe, timeout=10).status_code == 200

    server.stop()
    log = server.log_path.read_text()
    assert '"status": 401' in log  # the refusals were logged...
    assert WRITE not in log and READ not in log  # ...without the tokens
