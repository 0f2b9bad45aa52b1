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
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cascommon import stopsignals
from casserver import evictorwatch, flock
from casserver.config import Config, ConfigError

log = logging.getLogger(__name__)

# prometheus_client's multiprocess mode reads it in every worker, which inherits it.
METRICS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
_LOCK: Final = ".casserver.lock"


@dataclass(frozen=True, slots=True)
class MetricsDir:
    """The metrics directory this casserver holds, and whether it chose it (and removes it)."""

    path: Path
    owned: bool
    lock_fd: int  # an exclusive flock on a file inside: held while this casserver runs

    def release(self) -> None:
        """Remove the directory if this casserver chose it, then let the lock go."""
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.lock_fd)


def prepare_metrics_dir(config: Config) -> MetricsDir:
    """Point prometheus_client's multiprocess mode at an empty directory only this one uses.

    Its own choice is named after the listen address, not random: a server killed
    before it could clean up leaves one directory that its successor on the same
    address reuses, rather than one more per crash. A directory another live casserver
    holds (its lock) is never emptied or removed: a configured one is an error, a chosen
    one is replaced by a fresh one. It must run before prometheus_client is first
    imported, which picks in-process or file values then.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory")
    owned = config.metrics_dir is None
    if config.metrics_dir is not None:
        path = config.metrics_dir
    else:
        name = re.sub(r"[^0-9A-Za-z.]+", "_", f"{config.host}-{config.port}")
        path = Path(tempfile.gettempdir()) / f"casserver-metrics-{name}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        lock_fd = flock.try_lock(path / _LOCK)
        if lock_fd is None and owned:
            path = Path(tempfile.mkdtemp(prefix=f"{path.name}-"))
            lock_fd = flock.try_lock(path / _LOCK)
    except OSError as exc:
        raise ConfigError(f"{METRICS_ENV}: cannot use {path}: {exc.strerror or exc}") from None
    if lock_fd is None:
        raise ConfigError(f"{METRICS_ENV}: {path} is in use by another casserver")
    # Every *.db file is read as samples: another's (an operator's database in a directory
    # configured by mistake) is neither removed nor misread, the start is refused instead.
    dbs = sorted(path.glob("*.db"))
    foreign = [db.name for db in dbs if not _SAMPLES.fullmatch(db.name)]
    if foreign:
        os.close(lock_fd)
        raise ConfigError(f"{METRICS_ENV}: {path} holds {foreign[0]}, not metrics; give another")
    for stale in dbs:  # a previous run's samples would be summed in
        stale.unlink()
    os.environ[METRICS_ENV] = str(path)  # workers inherit it, and with it the same directory
    return MetricsDir(path, owned, lock_fd)


# The files prometheus_client's multiprocess mode writes: <type>_<pid>.db.
_SAMPLES: Final = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def start(config: Config) -> tuple[Config, MetricsDir]:
    """Prepare metrics, storage and the metrics port in the main process, before any worker.

    It returns the config with the metrics directory chosen, and that directory, which
    the caller releases when the server has stopped.
    """
    metrics_dir = prepare_metrics_dir(config)
    config = dataclasses.replace(config, metrics_dir=metrics_dir.path)
    try:
        prepare_storage(config)
        start_evictor(config)
        start_metrics_port(config)
    except BaseException:
        metrics_dir.release()
        raise
    stopsignals.default_after_fork()
    return config, metrics_dir


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


def start_evictor(config: Config) -> None:
    """Start this server's evictor process when a budget is set (see ``evictor``).

    It inherits the metrics directory through the environment, and ends by itself when
    this process is gone; one that dies before is started again (``evictorwatch``).
    """
    if config.max_bytes is None:
        return
    argv = [str(config.storage_dir), config.max_bytes, str(config.evict_grace_s)]
    argv += [str(config.min_free_bytes), config.log_level, str(os.getpid())]
    evictorwatch.watch([sys.executable, "-m", "casserver.evictor", *argv])


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


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead gunicorn worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
