"""Optional bearer tokens: who may write, who may read, and what stays open."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from casserver.app import create_app
from casserver.auth import Tokens, bearer
from casserver.config import Config, ConfigError
from tests.unit.casserver.test_app import assert_problem

WRITE = "w-s3cret-token"
READ = "r-s3cret-token"
DATA = b"guarded bytes"
SHA = hashlib.sha256(DATA).hexdigest()
KEY = hashlib.sha256(b"action").hexdigest()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(tmp_path: Path, **tokens: str) -> falcon.testing.TestClient:
    config = Config(storage_dir=tmp_path, **tokens)  # type: ignore[arg-type]
    return falcon.testing.TestClient(create_app(config, registry=CollectorRegistry()))


def assert_401(result: falcon.testing.Result) -> None:
    assert_problem(result, 401, "Unauthorized")
    assert result.headers["www-authenticate"] == 'Bearer realm="cas"'
    assert WRITE not in result.text and READ not in result.text


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer abc", b"abc"),
        ("bearer abc", b"abc"),
        ("  Bearer   abc  ", b"abc"),
    ],
)
def test_bearer_parses_the_header(header: str | None, token: bytes | None) -> None:
    assert bearer(header) == token


@pytest.mark.parametrize(
    ("write", "read", "method", "header", "allowed"),
    [
        (None, None, "PUT", None, True),
        ("w", None, "PUT", None, False),
        ("w", None, "PUT", "Bearer x", False),
        ("w", None, "PUT", "Bearer w", True),
        ("w", None, "POST", "Bearer ww", False),
        ("w", None, "GET", None, True),  # reads stay open without a read token
        ("w", "r", "GET", None, False),
        ("w", "r", "GET", "Bearer r", True),
        ("w", "r", "HEAD", "Bearer w", True),  # the write token reads too
        ("w", "r", "PUT", "Bearer r", False),  # the read token never writes
        (None, "r", "PUT", None, True),  # writes stay open without a write token
        (None, "r", "GET", "Bearer w", False),
    ],
)
def test_tokens_allow(
    write: str | None, read: str | None, method: str, header: str | None, allowed: bool
) -> None:
    assert Tokens(write, read).allows(method, header) is allowed


def test_write_token_guards_every_upload_route_and_leaves_reads_open(tmp_path: Path) -> None:
    c = client(tmp_path, write_token=WRITE)
    assert_401(c.simulate_put(f"/cas/{SHA}", body=DATA))
    assert_401(c.simulate_put(f"/cas/{SHA}", body=DATA, headers=auth("wrong")))
    assert_401(c.simulate_post("/cas", body=DATA))
    assert_401(c.simulate_put(f"/ac/{KEY}", body=DATA))
    assert not list(tmp_path.rglob("*/*/*"))  # nothing stored by a refused upload
    assert c.simulate_put(f"/cas/{SHA}", body=DATA, headers=auth(WRITE)).status_code == 201
    assert c.simulate_post("/cas", body=DATA, headers=auth(WRITE)).status_code == 200
    assert c.simulate_put(f"/ac/{KEY}", body=DATA, headers=auth(WRITE)).status_code == 200
    assert c.simulate_get(f"/cas/{SHA}").content == DATA
    assert c.simulate_head(f"/cas/{SHA}").status_code == 200
    assert c.simulate_get(f"/ac/{KEY}").content == DATA


def test_read_token_guards_reads_and_the_write_token_reads_too(tmp_path: Path) -> None:
    c = client(tmp_path, write_token=WRITE, read_token=READ)
    c.simulate_put(f"/cas/{SHA}", body=DATA, headers=auth(WRITE))
    c.simulate_put(f"/ac/{KEY}", body=DATA, headers=auth(WRITE))
    for path in (f"/cas/{SHA}", f"/ac/{KEY}"):
        assert_401(c.simulate_get(path))
        assert c.simulate_head(path).status_code == 401
        assert c.simulate_get(path, headers=auth(READ)).content == DATA
        assert c.simulate_get(path, headers=auth(WRITE)).content == DATA
    assert_401(c.simulate_put(f"/ac/{KEY}", body=b"x", headers=auth(READ)))


def test_probes_and_metrics_stay_open(tmp_path: Path) -> None:
    c = client(tmp_path, write_token=WRITE, read_token=READ)
    for path in ("/healthz", "/readyz", "/metrics"):
        assert c.simulate_get(path).status_code == 200
    c.simulate_put(f"/cas/{SHA}", body=DATA)
    route = 'cas_http_requests_total{method="PUT",route="/cas/{digest}",status="4xx"} 1.0'
    assert route in c.simulate_get("/metrics").text


def test_tokens_are_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(tmp_path, write_token=WRITE, read_token=READ)
    c.simulate_put(f"/cas/{SHA}", body=DATA, headers=auth(READ))
    c.simulate_put(f"/cas/{SHA}", body=DATA, headers=auth(WRITE))
    c.simulate_get(f"/cas/{SHA}", headers=auth("guess"))
    assert any(r.getMessage() == "request failed" for r in caplog.records)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert WRITE not in logged and READ not in logged


def test_tokens_from_the_environment_and_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(WRITE + "\n")  # as `echo token > file` or a Secret written so
    c = Config.from_env({"CAS_WRITE_TOKEN_FILE": str(secret), "CAS_READ_TOKEN": READ})
    assert (c.write_token, c.read_token) == (WRITE, READ)
    assert WRITE not in repr(c) and READ not in repr(c)
    assert Config.from_env({"CAS_WRITE_TOKEN": ""}).write_token is None
    r = Config.from_env({"CAS_READ_TOKEN_FILE": str(secret)})
    assert (r.write_token, r.read_token) == (None, WRITE)


@pytest.mark.parametrize(
    "env",
    [
        {"CAS_WRITE_TOKEN": "a", "CAS_WRITE_TOKEN_FILE": "/etc/hostname"},
        {"CAS_WRITE_TOKEN_FILE": "/nonexistent/token"},
        {"CAS_READ_TOKEN": "two words"},
    ],
)
def test_bad_token_settings_are_refused_without_echoing_them(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert "two words" not in str(info.value)


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="CAS_WRITE_TOKEN"):
        Config.from_env({"CAS_WRITE_TOKEN_FILE": str(empty)})
