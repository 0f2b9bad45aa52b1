"""Gunicorn master hooks: prepare storage and the shared metrics directory, clean up after.

The master runs ``on_starting`` before it forks any worker, so sweeping temp files
there cannot remove an upload in progress, and the storage gauges are counted once.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from casserver.config import ENV, Config

log = logging.getLogger(__name__)

_METRICS_ENV = ENV["metrics_dir"]


def prepare_metrics_dir(environ: MutableMapping[str, str]) -> tuple[Path, bool]:
    """Prepare_metrics_dir points prometheus_client's multiprocess mode at an empty directory.

    It returns the directory and whether it made it (and so should remove it). It must
    run before prometheus_client is first imported: the library picks its value storage
    (in-process or files) at import time.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory")
    configured = environ.get(_METRICS_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's samples would be summed in
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="casserver-metrics-"))
    environ[_METRICS_ENV] = str(path)  # workers inherit it, and with it the same directory
    return path, True


def on_starting(server: Any) -> None:
    """On_starting sweeps temp files and counts stored blobs before workers start."""
    path, owned = prepare_metrics_dir(os.environ)
    if owned:
        server.cas_owned_metrics_dir = path
    config = Config.from_env(os.environ)

    from prometheus_client import CollectorRegistry  # after the dir is set

    from casserver.metrics import StorageGauges
    from casserver.storage import BlobStore

    store = BlobStore(config.storage_dir, min_free_bytes=config.min_free_bytes)
    swept = store.sweep()
    blobs, nbytes = store.usage()
    StorageGauges(CollectorRegistry()).add(blobs, nbytes)
    log.info(
        "storage ready",
        extra={"storage": str(store.root), "blobs": blobs, "bytes": nbytes, "swept_temp": swept},
    )


def child_exit(server: Any, worker: Any) -> None:
    """Child_exit drops a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """On_exit removes the metrics directory if the master made it."""
    path = getattr(server, "cas_owned_metrics_dir", None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
