"""Run casserver under granian: the RSGI front (``casserver.rsgi``) in CAS_WORKERS processes."""

from __future__ import annotations

import logging
import sys

from cascommon import granianrun, logs
from casserver import lifecycle
from casserver.config import Config
from casserver.settings import SETTINGS

log = logging.getLogger(__name__)


def serve(config: Config) -> None:
    """Prepare metrics and storage, run granian until it stops, then clean up."""
    logs.configure(config.log_level)
    SETTINGS.log_open(log, config)
    config, metrics_dir = lifecycle.start(config)
    try:
        _run(config)
    finally:
        metrics_dir.release()


def _run(config: Config) -> None:
    from granian.constants import Loops, TaskImpl

    from casserver import rsgi  # imports prometheus_client: only once the metrics dir is set

    granianrun.serve(
        "casserver.rsgi:load",
        rsgi.load,
        config,
        interface="rsgi",
        workers=config.workers,
        header_timeout_s=config.header_timeout_s,
        max_connections=config.max_connections,
        loop=Loops.asyncio,
        # Granian has the Rust tasks only before Python 3.12 (and warns when it falls back).
        task_impl=TaskImpl(config.task_impl if sys.version_info < (3, 12) else "asyncio"),
        respawn_failed_workers=True,
        respawn_interval=0.5,
        workers_kill_timeout=10,
    )
