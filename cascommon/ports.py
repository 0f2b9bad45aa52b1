"""A start-up check that each port a server will listen on is free, named in one line.

Granian binds its listener with SO_REUSEPORT, so a second server on a busy port starts
without a word and takes half the connections. Binding each port once without it, before
granian starts, turns that mistake into a start-up error naming the port.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from cascommon.settings import ConfigError


def check_free(host: str, ports: Mapping[str, int | None]) -> None:
    """Raise ConfigError for the first port (keyed by its setting's name) already in use."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for name, port in ports.items():
        if port is None:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR (not SO_REUSEPORT): a port in TIME_WAIT is free, a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigError(
                    f"{name}: cannot listen on {host} port {port}: {exc.strerror or exc}"
                ) from None
