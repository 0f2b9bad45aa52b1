"""Evictor: the one process per volume that keeps the store within its budget.

The main process of every casserver starts one (``python -m casserver.evictor``). It takes
an flock on ``evict/evictor.lock`` in the store, so among all processes and replicas on
one volume exactly one evicts while the others wait for the lock (and keep serving). It
runs at the lowest CPU priority. It learns how full the store is from a scan (at start,
after each pass, every ``RESCAN_S``) plus the sizes every process appends to its journal,
and passes run when the store is over its budget, when the volume's free space falls
near ``CAS_MIN_FREE_BYTES``, or when asked (``casserver evict``, or SIGUSR1).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from casserver import flock
from casserver.budget import ByteBudget, low_watermark
from casserver.eviction import PassResult, empty_trash, run_pass
from casserver.evictscan import scan
from casserver.journal import JournalReader
from casserver.metrics import EvictionMetrics, StorageGauges
from casserver.recency import EVICT_DIR, FLUSH_S, retouch_s

log = logging.getLogger(__name__)

LOCK_NAME: Final = "evictor.lock"
REQUEST_NAME: Final = "pass-requested"
RESULT_NAME: Final = "last-pass.json"
TICK_S: Final = 0.02
RESCAN_S: Final = 300.0
# Free space the evictor keeps above CAS_MIN_FREE_BYTES, as a share of the budget.
FREE_SLACK: Final = 0.05


@dataclass(frozen=True, slots=True)
class PassRequest:
    """PassRequest is a pass asked for by ``casserver evict`` (or SIGUSR1: no token, no target)."""

    token: str = ""
    target_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class EvictorSettings:
    """EvictorSettings is what the evictor needs from the configuration."""

    root: Path
    budget: ByteBudget
    grace_s: float
    min_free_bytes: int

    @property
    def protect_s(self) -> float:
        """Return how recent a use keeps a file: the grace, plus how late uses are recorded."""
        return self.grace_s + retouch_s(self.grace_s) + 2 * FLUSH_S


class Evictor:
    """Evictor holds the volume's eviction lock and runs passes when they are due."""

    def __init__(self, settings: EvictorSettings, metrics: EvictionMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.dir = settings.root / EVICT_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.budget_bytes = settings.budget.resolve(settings.root)
        self.journal = JournalReader(settings.root)
        self.stored = 0
        self._requested = False

    def try_lock(self) -> int | None:
        """Return the locked eviction lock's descriptor, or None if another process holds it."""
        return flock.try_lock(self.dir / LOCK_NAME)

    def one_pass(self, target_bytes: int) -> PassResult:
        """Run a pass now, down to target_bytes, and record it."""
        self.stored += self.journal.read()
        s = self.settings
        result = run_pass(s.root, target_bytes, s.protect_s, self.stored)
        self.journal.prune(result.started_at)
        self._record(result)
        return result

    def _record(self, result: PassResult) -> None:
        m = self.metrics
        self.stored = result.bytes_after
        m.counted_bytes.set(self.stored)
        m.last_pass_seconds.set(result.duration_s)
        m.last_pass_timestamp.set(result.started_at)
        m.passes.labels("short" if result.short else "done").inc()
        m.evicted.labels("blob").inc(result.evicted_blobs)
        m.evicted.labels("ac").inc(result.evicted_ac)
        m.evicted_bytes.inc(result.evicted_bytes)

    def serve(self, parent_pid: int, storage: StorageGauges) -> None:
        """Wait for the lock, then keep the store within budget until the parent is gone."""
        if os.getppid() != parent_pid:
            # Its server ended while it imported: end now. In the idle class below, an orphan
            # on a busy machine waited for spare CPU to end at all (15 s and more).
            return
        # Passes must not take the CPU from GETs: the idle scheduling class runs the evictor
        # only when nothing else wants the CPU (nice 19 still took a share of it).
        os.nice(19)
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            pass  # not Linux: nice 19 it is
        signal.signal(signal.SIGUSR1, lambda *_: setattr(self, "_requested", True))
        lock = None
        while lock is None:
            if os.getppid() != parent_pid:
                return
            lock = self.try_lock()
            if lock is None:
                time.sleep(1.0)
        log.info("evictor holds the lock", extra={"budget_bytes": self.budget_bytes})
        self.metrics.budget_bytes.set(self.budget_bytes)
        empty_trash(self.settings.root)
        self.journal.skip()
        first = scan(self.settings.root, 0, 0)
        storage.add(first.blobs, first.blob_bytes)
        self.stored = first.bytes
        self.metrics.counted_bytes.set(self.stored)
        last_scan = time.monotonic()
        while os.getppid() == parent_pid:
            time.sleep(TICK_S)
            self.stored += self.journal.read()
            self.metrics.counted_bytes.set(self.stored)
            request = self._take_request()
            target = self._target(request)
            if target is None and time.monotonic() - last_scan > RESCAN_S:
                self.stored = scan(self.settings.root, 0, 0).bytes
                last_scan = time.monotonic()
                target = self._target(request)
            if target is None:
                continue
            try:
                result = self.one_pass(target)
            except Exception:  # a bug or an I/O error must not end eviction for good
                log.exception("eviction pass failed")
                time.sleep(1.0)
                continue
            storage.add(-result.evicted_blobs, -result.evicted_blob_bytes)
            last_scan = time.monotonic()
            if request is not None:
                self._answer(request, result)

    def _target(self, request: PassRequest | None) -> int | None:
        low = low_watermark(self.budget_bytes)
        target = low if self.stored > self.budget_bytes else None
        if request is not None:
            target = low if request.target_bytes is None else request.target_bytes
        floor = self.settings.min_free_bytes
        if floor > 0:
            st = os.statvfs(self.settings.root)
            short = floor + int(FREE_SLACK * self.budget_bytes) - st.f_bavail * st.f_frsize
            if short > 0:
                target = min(target if target is not None else low, self.stored - short)
        return target

    def _take_request(self) -> PassRequest | None:
        path = self.dir / REQUEST_NAME
        if self._requested:
            self._requested = False
            return PassRequest()
        try:
            fields = json.loads(path.read_text())
            request = PassRequest(str(fields["token"]), fields.get("target_bytes"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            request = PassRequest()  # half written or foreign: a pass all the same
        path.unlink(missing_ok=True)
        return request

    def _answer(self, request: PassRequest, result: PassResult) -> None:
        tmp = self.dir / (RESULT_NAME + ".tmp")
        tmp.write_text(json.dumps({"request": request.token, **result.to_json()}))
        os.replace(tmp, self.dir / RESULT_NAME)


def main(argv: list[str]) -> None:
    """Run the evictor: argv is storage, budget, grace, min free bytes, log level, server pid.

    ``lifecycle.start_evictor`` passes them from the server's Config (flags included).
    The server's pid comes from the server: one stopped while this process was still
    importing left it a child of init, whose pid ``getppid`` would have taken for the
    server's, and it ran on for good, holding the volume's evictor lock.
    """
    from prometheus_client import CollectorRegistry

    from cascommon import logs

    storage, budget, grace_s, min_free_bytes, log_level, server_pid = argv
    logs.configure(log_level)
    settings = EvictorSettings(
        Path(storage), ByteBudget.parse(budget), float(grace_s), int(min_free_bytes)
    )
    registry = CollectorRegistry()
    evictor = Evictor(settings, EvictionMetrics(registry))
    try:
        evictor.serve(int(server_pid), StorageGauges(registry))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
