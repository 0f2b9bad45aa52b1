"""Start and stop of a casserver: storage and the shared metrics directory, for either server.

The main process (gunicorn's master, or the process that runs granian) prepares both
before it starts any worker, so sweeping temp files cannot remove an upload in
progress, and the storage gauges are counted once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from casserver.config import ENV, Config

log = logging.getLogger(__name__)

_METRICS_ENV = ENV["metrics_dir"]


def prepare_metrics_dir(environ: MutableMapping[str, str], config: Config) -> tuple[Path, bool]:
    """Prepare_metrics_dir points prometheus_client's multiprocess mode at an empty directory.

    It returns the directory and whether casserver chose it (and so removes it at exit).
    Its own choice is named after the listen address, not random: a server killed
    before it could clean up leaves one directory that its successor on the same
    address reuses, rather than one more per crash. It must run before
    prometheus_client is first imported, which picks in-process or file values then.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory")
    configured = environ.get(_METRICS_ENV)
    owned = not configured
    if configured:
        path = Path(configured)
    else:
        name = re.sub(r"[^0-9A-Za-z.]+", "_", f"{config.host}-{config.port}")
        path = Path(tempfile.gettempdir()) / f"casserver-metrics-{name}"
        environ[_METRICS_ENV] = str(path)  # workers inherit it, and with it the same directory
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's samples would be summed in
        stale.unlink()
    return path, owned


def prepare_storage(config: Config) -> None:
    """Prepare_storage sweeps temp files and counts stored blobs before workers start."""
    from prometheus_client import CollectorRegistry  # after the metrics dir is set

    from casserver.metrics import StorageGauges
    from casserver.storage import BlobStore

    store = BlobStore(config.storage_dir, min_free_bytes=config.min_free_bytes)
    swept = store.sweep()
    if config.max_bytes is not None:
        # With a budget the evictor walks the store and counts it, in the background: a
        # million blobs must not hold readiness back.
        log.info("storage ready", extra={"storage": str(store.root), "swept_temp": swept})
        return
    blobs, nbytes = store.usage()
    StorageGauges(CollectorRegistry()).add(blobs, nbytes)
    log.info(
        "storage ready",
        extra={"storage": str(store.root), "blobs": blobs, "bytes": nbytes, "swept_temp": swept},
    )


def start_evictor(config: Config) -> subprocess.Popen[bytes] | None:
    """Start this server's evictor process when a budget is set (see ``evictor``).

    It inherits the environment (flags are written into it) and the metrics directory,
    and ends by itself when this process is gone.
    """
    if config.max_bytes is None:
        return None
    return subprocess.Popen([sys.executable, "-m", "casserver.evictor"])


def stop_evictor(evictor: subprocess.Popen[bytes] | None) -> None:
    """Stop the evictor started by start_evictor, if any."""
    if evictor is not None and evictor.poll() is None:
        evictor.terminate()
        try:
            evictor.wait(5)
        except subprocess.TimeoutExpired:
            evictor.kill()
            evictor.wait()


def start_metrics_port(config: Config) -> None:
    """Start_metrics_port serves every worker's samples on CAS_METRICS_PORT, if it is set.

    It runs in the main process, which outlives the workers and owns the metrics
    directory, so a scrape never depends on which worker the kernel picks.
    """
    if config.metrics_port is None:
        return
    from prometheus_client import CollectorRegistry  # after the metrics dir is set

    from cascommon.metricsport import MetricsPort
    from casserver.metrics import exposition_registry
    from casserver.storage import BlobStore

    store = BlobStore(config.storage_dir, min_free_bytes=config.min_free_bytes)
    registry = exposition_registry(CollectorRegistry(), store, config.metrics_dir)
    MetricsPort(registry, config.host, config.metrics_port).start()


def remove_metrics_dir(path: Path) -> None:
    """Remove_metrics_dir deletes the metrics directory casserver chose."""
    shutil.rmtree(path, ignore_errors=True)


def on_starting(server: Any) -> None:
    """On_starting (gunicorn) prepares metrics and storage before workers start."""
    config = Config.from_env(os.environ)
    path, owned = prepare_metrics_dir(os.environ, config)
    if owned:
        server.cas_owned_metrics_dir = path
    prepare_storage(config)
    server.cas_evictor = start_evictor(dataclasses.replace(config, metrics_dir=path))
    start_metrics_port(dataclasses.replace(config, metrics_dir=path))
    stop_signals_default_after_fork()


def stop_signals_default_after_fork() -> None:
    """Stop_signals_default_after_fork lets SIGTERM and SIGINT end a worker still booting.

    A forked worker runs the main process's handlers until it installs its own, and
    those only flag the signal for a main loop the worker does not run: a worker
    forked just before a stop ignored SIGTERM and ran on until SIGKILL (gunicorn and
    granian alike). With the default action, a worker that serves nothing yet just ends.
    """
    os.register_at_fork(after_in_child=_default_stop_signals)


def _default_stop_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def child_exit(server: Any, worker: Any) -> None:
    """Child_exit (gunicorn) drops a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """On_exit (gunicorn) stops the evictor and removes the metrics directory casserver chose."""
    stop_evictor(getattr(server, "cas_evictor", None))
    path = getattr(server, "cas_owned_metrics_dir", None)
    if path is not None:
        remove_metrics_dir(path)
