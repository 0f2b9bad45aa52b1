"""The gunicorn and granian settings casserver runs with."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import casserver
from casserver.config import Config

CONF = Path(casserver.__file__).with_name("gunicorn.conf.py")
NGINX_UPSTREAM_KEEPALIVE_S = 60  # ingress-nginx's and nginx's default


def test_idle_connections_outlive_the_proxy_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    # If the server closed idle connections first, a proxy reusing one gets a reset: a 502.
    monkeypatch.setenv("CAS_STORAGE_DIR", "/nonexistent-but-unused")
    settings = runpy.run_path(str(CONF))
    assert settings["keepalive"] > NGINX_UPSTREAM_KEEPALIVE_S
    assert settings["worker_class"] == "gthread" and settings["sendfile"] is True


def test_granian_keeps_idle_connections_as_long_as_the_proxy() -> None:
    # Granian (hyper) closes idle keep-alive connections after the header timeout, at most
    # 60 s: its default must not be shorter than the proxies' keepalive.
    assert Config().header_timeout_s >= NGINX_UPSTREAM_KEEPALIVE_S
