"""Run casserver under granian: the RSGI front (``casserver.rsgi``) in CAS_WORKERS processes."""

from __future__ import annotations

import dataclasses
import os
import sys
from functools import partial

from cascommon import logs
from casserver import lifecycle
from casserver.config import Config


def serve(config: Config) -> None:
    """Serve prepares metrics and storage, runs granian until it stops, then cleans up."""
    metrics_dir, owned = lifecycle.prepare_metrics_dir(os.environ, config)
    config = dataclasses.replace(config, metrics_dir=metrics_dir)
    logs.configure(config.log_level)
    evictor = None
    try:
        lifecycle.prepare_storage(config)
        evictor = lifecycle.start_evictor(config)
        lifecycle.start_metrics_port(config)
        lifecycle.stop_signals_default_after_fork()
        _run(config)
    finally:
        lifecycle.stop_evictor(evictor)
        if owned:
            lifecycle.remove_metrics_dir(metrics_dir)


def _run(config: Config) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from casserver import rsgi  # imports prometheus_client: only once the metrics dir is set

    server = Granian(
        "casserver.rsgi:get_app",
        address=config.host,
        port=config.port,
        interface=Interfaces.RSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=config.workers,
        # Connections a worker holds, idle ones included: they cost a few KB each in
        # Rust, no thread, so the bound is high; past it granian stops accepting.
        backpressure=config.max_connections,
        http1_settings=HTTP1Settings(header_read_timeout=round(config.header_timeout_s * 1000)),
        loop=Loops.asyncio,
        # Granian has the Rust tasks only before Python 3.12 (and warns when it falls back).
        task_impl=TaskImpl(config.task_impl if sys.version_info < (3, 12) else "asyncio"),
        respawn_failed_workers=True,
        respawn_interval=0.5,
        workers_kill_timeout=10,
        log_dictconfig=logs.server_dict_config(config.log_level),
        log_level=LogLevels(config.log_level.lower()),
    )
    # The loader returns an RSGI object (it has __rsgi__), which granian's hints do not name.
    loader = partial(rsgi.load, config)
    try:
        server.serve(target_loader=loader, wrap_loader=False)  # type: ignore[arg-type]
    except SystemExit as exc:
        # A stop signal sent to the whole process group (Ctrl-C in a terminal, a test
        # harness) reaches the workers too; one that exits before the main process asks
        # it to looks like a crash to granian, which then exits 1 on a clean stop.
        if exc.code == 1 and server.interrupt_signal:
            return
        raise
