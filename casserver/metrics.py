"""Casserver's Prometheus metrics, coherent across worker processes.

Under granian or gunicorn every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, chosen when prometheus_client is first
imported, which is why the main process sets that directory before importing this module),
and /metrics in any worker sums them all. The storage gauges use mode ``sum``: without
a budget they only grow (nothing is deleted): the main process adds what was on disk at
start, each worker adds what it commits, and a dead worker's share is kept. With a budget,
the evictor process adds what its first walk found instead and takes off what it removes,
and sets the eviction metrics (mode ``mostrecent``: its values win over the workers' zeros).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from cascommon.httpmetrics import RequestMetrics
from casserver.storage import BlobStore

NAMESPACE = "cas"


class StorageGauges:
    """StorageGauges counts blobs and bytes on the volume (SHA-1 links not counted twice)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.blobs = Gauge(
            "storage_blobs",
            "Blobs stored on the volume.",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="sum",
        )
        self.bytes = Gauge(
            "storage_bytes",
            "Bytes of blobs stored on the volume.",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="sum",
        )

    def add(self, blobs: int, nbytes: int) -> None:
        """Add records blobs and bytes that are now on the volume."""
        self.blobs.inc(blobs)
        self.bytes.inc(nbytes)


class EvictionMetrics:
    """EvictionMetrics describes the budget and what the evictor removed to keep it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            # Only the evictor sets these; the latest value is the truth.
            return Gauge(
                name, doc, namespace=NAMESPACE, registry=registry, multiprocess_mode="mostrecent"
            )

        self.budget_bytes = gauge("storage_budget_bytes", "The storage budget (CAS_MAX_BYTES).")
        self.counted_bytes = gauge(
            "storage_counted_bytes",
            "Bytes of blobs and action results the budget counts (last scan plus journal).",
        )
        self.last_pass_seconds = gauge(
            "eviction_last_pass_seconds", "How long the last eviction pass took."
        )
        self.last_pass_timestamp = gauge(
            "eviction_last_pass_timestamp_seconds", "When the last eviction pass started."
        )
        self.passes = Counter(
            "eviction_passes",
            "Eviction passes: done (down to the low watermark), short (stopped above it "
            "because all that is left was used within the grace).",
            ["result"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.evicted = Counter(
            "evicted",
            "Files evicted, by kind (blob, ac).",
            ["kind"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.evicted_bytes = Counter(
            "evicted_bytes", "Bytes evicted.", namespace=NAMESPACE, registry=registry
        )


class Metrics:
    """Metrics holds every casserver metric, registered on one explicit registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.http = RequestMetrics(registry, NAMESPACE)
        self.storage = StorageGauges(registry)
        # Set by the evictor process; declared here too so every /metrics names them.
        self.eviction = EvictionMetrics(registry)
        self.received_bytes = Counter(
            "received_bytes",
            "Upload body bytes read from clients.",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.sent_bytes = Counter(
            "sent_bytes",
            "Blob bytes answered to GET requests.",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.blobs_stored = Counter(
            "blobs_stored",
            "Uploads that stored a new blob or a new name for one.",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.action_cache = Counter(
            "action_cache_requests",
            "Action cache reads (get, head: hit, miss, or incomplete: an ActionResult naming "
            "a blob that is gone) and writes (put: stored).",
            ["operation", "result"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.read_errors = Counter(
            "blob_read_errors",
            "Reads answered 500 instead of a stored file that is not its blob: a size other "
            "than committed (size), bytes not hashing to the name (hash), or unreadable.",
            ["reason"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.storage_writable = Gauge(
            "storage_writable",
            "1 while uploads can be written to the storage volume, 0 since one could not.",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.storage_writable.set(1)
        self.upload_failures = Counter(
            "upload_verification_failures",
            "Uploads refused because their bytes did not check out, by reason.",
            ["reason"],
            namespace=NAMESPACE,
            registry=registry,
        )


class FreeSpaceCollector(Collector):
    """FreeSpaceCollector reports the volume's free bytes at scrape time."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{NAMESPACE}_storage_free_bytes",
            "Bytes still free on the storage volume for unprivileged writers.",
            value=self._store.free_bytes(),
        )


def exposition_registry(
    registry: CollectorRegistry, store: BlobStore, metrics_dir: Path | None
) -> CollectorRegistry:
    """Exposition_registry is what /metrics renders: every worker's samples, or just ours."""
    if metrics_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
    registry.register(FreeSpaceCollector(store))
    return registry
