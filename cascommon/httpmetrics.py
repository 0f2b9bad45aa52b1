"""Falcon middleware that counts requests and times them with bounded labels."""

from __future__ import annotations

import time
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram

# Upper bounds in seconds, from a cached 25 KB answer (~100 µs) to a slow 1 GiB upload.
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class RequestMetrics:
    """RequestMetrics is middleware counting requests by route template, method and status class.

    Labels are bounded: the route is the matched URI template (``/cas/{digest}``), never
    the path, and the status is its class (``2xx``). For streamed bodies the duration
    ends when the handler returns, before the server writes the body.
    """

    def __init__(self, registry: CollectorRegistry, namespace: str) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests by route template, method and status class.",
            ["route", "method", "status"],
            namespace=namespace,
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request, by route template and method.",
            ["route", "method"],
            namespace=namespace,
            registry=registry,
            buckets=DURATION_BUCKETS,
        )

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started_s = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        route = req.uri_template or "unmatched"
        method = req.method if req.method in _METHODS else "OTHER"
        status = f"{resp.status_code // 100}xx"
        self.requests.labels(route, method, status).inc()
        started = getattr(req.context, "started_s", None)
        if started is not None:
            self.duration.labels(route, method).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"})
