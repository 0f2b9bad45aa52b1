"""The casserver WSGI app: ``create_app(config)`` wires it from the Config it is given."""

from __future__ import annotations

from typing import Final

import falcon
from prometheus_client import CollectorRegistry

from cascommon import health, problem
from casserver import errors
from casserver.acresource import ActionResource
from casserver.actioncache import ActionCache
from casserver.auth import TokenAuth, Tokens
from casserver.config import Config
from casserver.ingest import Ingest
from casserver.metrics import Metrics, exposition_registry
from casserver.recency import Recency
from casserver.resources import BlobCollection, BlobResource, UploadLimits
from casserver.slots import UploadSlots
from casserver.storage import BlobStore
from casserver.writehealth import WriteHealth

# The data routes; health, readiness and metrics stay open to probes and scrapers.
GUARDED_ROUTES: Final = frozenset({"/cas/{digest}", "/cas", "/ac/{digest}"})


def create_app(
    config: Config,
    *,
    store: BlobStore | None = None,
    registry: CollectorRegistry | None = None,
    metrics: Metrics | None = None,
    recency: Recency | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Create_app builds the app over store (default: config.storage_dir) and registry.

    With a budget, reads and commits are recorded for the evictor (recency, built here
    unless given).
    """
    store = store or BlobStore(config.storage_dir, min_free_bytes=config.min_free_bytes)
    if recency is None and config.max_bytes is not None:
        recency = Recency(store.root, config.evict_grace_s)
    if recency is not None:
        recency.start()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = metrics or Metrics(registry)
    if config.metrics_dir is None:
        # Alone in this process: count what is on disk now. Under a server the main process
        # does it once for all workers (see lifecycle).
        metrics.storage.add(*store.usage())
    health_of_writes = WriteHealth(store, metrics)
    ingest = Ingest(store, metrics, health_of_writes, recency)

    auth = TokenAuth(Tokens(config.write_token, config.read_token), GUARDED_ROUTES)
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(middleware=[metrics.http, auth])
    problem.install(app)
    errors.install(app)
    # Action results are uploads too: they take the same slots, so the cap holds for both.
    slots = UploadSlots(config.max_uploads)
    limits = UploadLimits(config.max_blob_bytes, config.body_timeout_s, slots)
    app.add_route("/cas/{digest}", BlobResource(store, ingest, metrics, limits, recency))
    app.add_route("/cas", BlobCollection(ingest, limits))
    ac_limits = UploadLimits(config.max_ac_bytes, config.body_timeout_s, slots)
    app.add_route("/ac/{digest}", ActionResource(ActionCache(store, metrics, recency), ac_limits))
    # With a metrics port, the main process serves /metrics there (see lifecycle).
    exposed = None
    if config.metrics_port is None:
        exposed = exposition_registry(registry, store, config.metrics_dir)
    # Ready while stored blobs can be served; whether writes work is told in the body.
    health.add_routes(app, exposed, ready=store.check_readable, writes=health_of_writes.check)
    return app
