"""The granian Server settings both servers share, and how both run it.

Each server names in ``target`` the loader it really runs (granian is given the loader
itself with ``wrap_loader=False``, so the target string is only what its logs show).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from cascommon import logs

if TYPE_CHECKING:
    from granian.server.common import AbstractServer

    Server = AbstractServer[Any]

log = logging.getLogger(__name__)

# Granian's own CLI takes --http1-header-read-timeout in 1-60000 ms (hyper's one timer for
# a request's headers and the idle wait before the next one).
HEADER_TIMEOUT_RANGE_S: Final = (0.001, 60.0)


class Listening(Protocol):
    """What ``serve`` reads from a server's Config: where to listen and how much to log."""

    @property
    def host(self) -> str:
        """The address granian listens on."""

    @property
    def port(self) -> int:
        """The client port granian listens on."""

    @property
    def log_level(self) -> str:
        """The level of granian's own logs."""


C = TypeVar("C", bound=Listening)


def server(
    target: str,
    *,
    interface: str,
    host: str,
    port: int,
    workers: int,
    header_timeout_s: float,
    max_connections: int,
    log_level: str,
    **extra: Any,
) -> Server:
    """Return a granian Server: HTTP/1 only, no websockets, JSON logs, the header timeout."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    low, high = HEADER_TIMEOUT_RANGE_S
    if not low <= header_timeout_s <= high:
        raise ValueError(f"granian's header timeout must be {low}-{high:g} s")
    return Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces(interface),
        # HTTP/1 only: in auto mode granian's first read (to tell h1 from h2) has no
        # timeout, so a connection that never sends a byte was never closed.
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        http1_settings=HTTP1Settings(header_read_timeout=round(header_timeout_s * 1000)),
        # Connections a worker holds, idle ones included: they cost a few KB each in
        # Rust, no thread, so the bound is high; past it granian stops accepting.
        backpressure=max_connections,
        log_dictconfig=logs.server_dict_config(log_level),
        log_level=LogLevels(log_level.lower()),
        **extra,
    )


def run(server: Server, loader: Callable[[], Any]) -> None:
    """Run server with loader building the app in each worker, until it stops."""
    if not hasattr(server, "interrupt_signal"):  # granian's private stop flag, read below
        log.warning("granian has no interrupt_signal: a clean stop may exit 1")
    try:
        # The loader may return an RSGI object (it has __rsgi__), which granian's hints
        # do not name.
        server.serve(target_loader=loader, wrap_loader=False)
    except SystemExit as exc:
        # A stop signal sent to the whole process group (Ctrl-C in a terminal, a test
        # harness) reaches the workers too; one that exits before the main process asks
        # it to looks like a crash to granian, which then exits 1 on a clean stop.
        # interrupt_signal is granian's private flag (no public one says "asked to stop");
        # tests/unit/casserver/test_granian_internals.py fails when it changes.
        if exc.code == 1 and getattr(server, "interrupt_signal", False):
            return
        raise


def serve(
    target: str,
    loader: Callable[[C], Any],
    config: C,
    *,
    interface: str,
    workers: int,
    header_timeout_s: float,
    max_connections: int,
    **extra: Any,
) -> None:
    """Run granian on config's host and port until it stops; loader(config) builds each app."""
    built = server(
        target, interface=interface, host=config.host, port=config.port, workers=workers,
        header_timeout_s=header_timeout_s, max_connections=max_connections,
        log_level=config.log_level, **extra,
    )  # fmt: skip
    # The Config travels to each worker pickled inside the loader, never through the env.
    run(built, partial(loader, config))
