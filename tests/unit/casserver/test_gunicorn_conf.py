"""The gunicorn and granian settings casserver runs with."""

from __future__ import annotations

import pytest

from cascommon import granianrun
from casserver import gunicornserver
from casserver.config import Config

NGINX_UPSTREAM_KEEPALIVE_S = 60  # ingress-nginx's and nginx's default


def test_idle_connections_outlive_the_proxy_keepalive() -> None:
    # If the server closed idle connections first, a proxy reusing one gets a reset: a 502.
    settings = gunicornserver.settings(Config())
    assert settings["keepalive"] > NGINX_UPSTREAM_KEEPALIVE_S
    assert settings["worker_class"] == "gthread" and settings["sendfile"] is True


def test_granian_keeps_idle_connections_as_long_as_the_proxy() -> None:
    # Granian (hyper) closes idle keep-alive connections after the header timeout, at most
    # 60 s: its default must not be shorter than the proxies' keepalive.
    assert Config().header_timeout_s >= NGINX_UPSTREAM_KEEPALIVE_S


def test_both_servers_header_timeouts_are_in_granians_range() -> None:
    # Granian's CLI takes 1-60000 ms; casserver's bound and the shared builder say the same.
    from casserver.settings import SETTINGS

    (setting,) = [s for s in SETTINGS.items if s.field == "header_timeout_s"]
    assert (setting.low, setting.high) == granianrun.HEADER_TIMEOUT_RANGE_S
    with pytest.raises(ValueError, match="header timeout"):
        granianrun.server("x:y", interface="wsgi", host="127.0.0.1", port=1, workers=1,
                          header_timeout_s=75, max_connections=1, log_level="INFO")  # fmt: skip
