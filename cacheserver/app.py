"""The cacheserver WSGI app (client port) and the peer listener, wired from one Config."""

from __future__ import annotations

import logging
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter

from cacheserver import routes
from cacheserver.config import Config, dns_target
from cacheserver.errors import RETRY_AFTER_S, LoadError, Overloaded, status_of
from cacheserver.forward import Forward
from cacheserver.gate import Gate
from cacheserver.group import Group
from cacheserver.hitpath import HitPath
from cacheserver.membership import DnsMembers
from cacheserver.metrics import Metrics
from cacheserver.origin import Origin
from cacheserver.peers import Peer, PeerPicker, normalize_url
from cacheserver.peerserver import PeerServer
from cacheserver.resources import BlobResource, StatsResource
from cacheserver.upstream import Upstream
from cascommon import health, problem
from cascommon.metricsport import MetricsPort

App = falcon.App[falcon.Request, falcon.Response]

log = logging.getLogger(__name__)


class LoadErrorHandler:
    """LoadErrorHandler answers a failed load as problem+json and counts it by kind.

    Hits never get here, so the count costs nothing on the fast path; it is how an
    operator sees the 503s that keep waiting misses bounded.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._errors = Counter(
            "load_errors",
            "Client requests answered with a load error, by kind (class of the error).",
            ["kind", "status"],
            namespace="cacheserver",
            registry=registry,
        )

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any
    ) -> None:
        assert isinstance(ex, LoadError)
        status, detail = status_of(ex)
        self._errors.labels(type(ex).__name__, str(status)).inc()
        headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(ex, Overloaded) else None
        raise falcon.HTTPError(status, description=detail, headers=headers)


def build_group(config: Config) -> Group:
    """Build_group wires the ring, the peers and the origin from config."""
    fills = config.fill_threads
    token = {"Authorization": f"Bearer {config.peer_token}"} if config.peer_token else None

    def new_peer(url: str) -> Peer:
        upstream = Upstream(
            url, timeout_s=config.peer_wait_s, max_connections=fills,
            total_timeout_s=config.fetch_total_timeout_s, max_blob_bytes=config.max_blob_bytes,
            headers=token,
        )  # fmt: skip
        return Peer(upstream, config.peer_max_backoff_s)

    picker = PeerPicker(config.member_url, config.peers, new_peer)
    if config.peers and picker.self_url not in {normalize_url(p) for p in config.peers}:
        # Every member must spell every member alike, or their rings disagree and a
        # key has several owners (and several origin loads).
        log.warning(
            "this member's URL is not in CACHE_PEERS; check that every member spells it so",
            extra={"self": picker.self_url, "peers": list(config.peers)},
        )
    origin_token = config.origin_token
    origin = Upstream(
        config.origin_url, timeout_s=config.origin_timeout_s, max_connections=fills,
        total_timeout_s=config.fetch_total_timeout_s, max_blob_bytes=config.max_blob_bytes,
        headers={"Authorization": f"Bearer {origin_token}"} if origin_token else None,
    )  # fmt: skip
    return Group(
        picker=picker,
        origin=Origin(origin),
        cache_bytes=config.cache_bytes,
        max_item_bytes=config.item_limit_bytes,
        negative_ttl_s=config.negative_ttl_s,
        fill_timeout_s=config.fill_timeout_s,
        peer_fill_timeout_s=config.peer_fill_timeout_s,
        max_fills=fills,
    )


def create_app(
    config: Config,
    *,
    group: Group | None = None,
    registry: CollectorRegistry | None = None,
) -> HitPath:
    """Create_app builds the client port's WSGI app; every dependency can be passed in."""
    group = group or build_group(config)
    registry = registry or CollectorRegistry()
    Metrics(registry, group.stats, group.in_flight)
    if config.peers_dns:
        name, port = dns_target(config)
        DnsMembers(group.picker, name, port, config.dns_refresh_s).start()
    app: App = falcon.App(media_type=falcon.MEDIA_JSON)
    problem.install(app)
    app.add_error_handler(LoadError, LoadErrorHandler(registry))
    misses = Gate(config.miss_limit, "misses")
    app.add_route(routes.BLOB, BlobResource(group, misses))
    app.add_route(routes.STATS, StatsResource(group))
    # With a metrics port, serve_app serves the registry there instead.
    exposed = registry if config.metrics_port is None else None
    health.add_routes(app, exposed, ready=lambda: None)
    # Uploads and action results go to the origin. They wait on the origin and on their
    # clients as misses do, so they take places of the same gate: threads stay for hits.
    forward = Forward(
        app,
        config.origin_url,
        timeout_s=config.origin_timeout_s,
        max_forwards=max(1, config.threads // 2),
        registry=registry,
        gate=misses,
    )
    return HitPath(forward, group.cached, group.counters.add)


def peer_server(config: Config, group: Group) -> PeerServer:
    """Peer_server builds the peer listener for group (started by the caller)."""
    return PeerServer(
        group,
        host=config.host,
        port=config.peer_port,
        token=config.peer_token,
        header_timeout_s=config.header_timeout_s,
        idle_timeout_s=config.idle_timeout_s,
        max_waiters=config.peer_waiters,
        max_connections=config.peer_max_connections,
    )


def serve_app(config: Config) -> HitPath:
    """Serve_app builds the group, starts its peer listener and returns the client app.

    It runs in the serving process (granian's or gunicorn's one worker), where the
    cache lives, so both listeners share it.
    """
    group = build_group(config)
    peer_server(config, group).start()
    registry = CollectorRegistry()
    app = create_app(config, group=group, registry=registry)
    if config.metrics_port is not None:
        MetricsPort(registry, config.host, config.metrics_port).start()
    return app
