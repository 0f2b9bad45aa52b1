"""Health, readiness and Prometheus metrics resources used by both servers."""

from __future__ import annotations

from collections.abc import Callable

import falcon
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


class HealthResource:
    """HealthResource answers 200 while the process can serve requests."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class ReadyResource:
    """ReadyResource answers 200 when check() returns None, else 503 with its reason."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self._check = check

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        reason = self._check()
        if reason is not None:
            raise falcon.HTTPServiceUnavailable(title="Not ready", description=reason)
        resp.media = {"status": "ready"}


class MetricsResource:
    """MetricsResource exposes a registry in the Prometheus text format."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self._registry)


def add_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    registry: CollectorRegistry,
    ready: Callable[[], str | None],
) -> None:
    """Add_routes mounts /healthz, /readyz and /metrics on app."""
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(ready))
    app.add_route("/metrics", MetricsResource(registry))
