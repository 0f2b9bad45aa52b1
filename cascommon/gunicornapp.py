"""Gunicorn run from code with its settings and app given, as both servers embed it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def bind_address(host: str, port: int) -> str:
    """Return gunicorn's host:port, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run(settings: Mapping[str, Any], load: Callable[[], Callable[..., Any]]) -> None:
    """Run gunicorn with settings until it stops, each worker serving what load returns."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            # Gunicorn's control socket is one per-user path shared by every gunicorn on
            # the host: not ours to take.
            for key, value in {"control_socket_disable": True, **settings}.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return load()

    _Gunicorn().run()
