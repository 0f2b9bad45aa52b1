"""Health, readiness and Prometheus metrics resources used by both servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import falcon
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Both servers' liveness route; a cacheserver member probes its origin (casserver) here.
HEALTH_PATH: Final = "/healthz"


class HealthResource:
    """HealthResource answers 200 while the process can serve requests."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class ReadyResource:
    """ReadyResource answers 200 when check() returns None, else 503 with its reason.

    writes, when given, is reported in the body ("ok" or why not) and never fails
    readiness: a server that cannot write but still serves reads stays in rotation.
    """

    def __init__(
        self, check: Callable[[], str | None], writes: Callable[[], str | None] | None = None
    ) -> None:
        self._check = check
        self._writes = writes

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        reason = self._check()
        if reason is not None:
            raise falcon.HTTPServiceUnavailable(title="Not ready", description=reason)
        if self._writes is None:
            resp.media = {"status": "ready"}
            return
        resp.media = {"status": "ready", "writes": self._writes() or "ok"}


class MetricsResource:
    """MetricsResource exposes a registry in the Prometheus text format."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self._registry)


class MetricsElsewhere:
    """MetricsElsewhere answers 404 for /metrics when a metrics port of its own serves it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPNotFound(description="/metrics is served on the metrics port")


def add_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    registry: CollectorRegistry | None,
    ready: Callable[[], str | None],
    writes: Callable[[], str | None] | None = None,
) -> None:
    """Add_routes mounts /healthz, /readyz and /metrics (a 404 if registry is None) on app."""
    app.add_route(HEALTH_PATH, HealthResource())
    app.add_route("/readyz", ReadyResource(ready, writes))
    metrics = MetricsElsewhere() if registry is None else MetricsResource(registry)
    app.add_route("/metrics", metrics)
