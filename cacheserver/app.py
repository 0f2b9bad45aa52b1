"""The cacheserver WSGI app (client port) and the peer listener, wired from one Config."""

from __future__ import annotations

import logging
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter

from cacheserver import routes
from cacheserver.config import Config, dns_target
from cacheserver.errors import RETRY_AFTER_S, Full, LoadError, status_of
from cacheserver.forward import Forward
from cacheserver.gate import Gate, GateStats, RouteGates
from cacheserver.group import Group
from cacheserver.hedge import HedgeBudget, Hedger
from cacheserver.hitpath import HitPath
from cacheserver.lengths import Oversize
from cacheserver.membership import DnsMembers
from cacheserver.metrics import Metrics
from cacheserver.origin import Origin
from cacheserver.peers import Peer, PeerPicker, normalize_url
from cacheserver.peerserver import PeerServer
from cacheserver.prober import ORIGIN_HEALTH_PATH, PEER_HEALTH_PATH, Prober, Target
from cacheserver.resources import BlobResource, StatsResource
from cacheserver.stats import Stats
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
        # Every 5xx here is a bounded, passing condition (busy, backed off, timed out):
        # the client may try again shortly.
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status >= 500 else None
        raise falcon.HTTPError(status, description=detail, headers=headers)


def build_group(config: Config) -> Group:
    """Build_group wires the ring, the peers and the origin from config."""
    fills = config.fill_threads
    token = {"Authorization": f"Bearer {config.peer_token}"} if config.peer_token else None

    def new_peer(url: str) -> Peer:
        upstream = Upstream(
            url, timeout_s=config.peer_wait_s, max_connections=fills,
            total_timeout_s=config.fetch_total_timeout_s, max_blob_bytes=config.max_blob_bytes,
            headers=token, connect_timeout_s=config.connect_timeout_s,
            first_byte_timeout_s=config.peer_first_byte_s,
            bulkhead=Gate(config.peer_bulkhead_size, f"peer:{normalize_url(url)}", Full),
        )  # fmt: skip
        return Peer(upstream, config.peer_max_backoff_s, slow_s=config.peer_slow_s)

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
        connect_timeout_s=config.connect_timeout_s, first_byte_timeout_s=config.origin_first_byte_s,
        bulkhead=Gate(config.origin_bulkhead_size, "origin", Full),
    )  # fmt: skip
    hedger: Hedger[bytes | Oversize] | None = None
    if config.hedge_max_delay_s > 0:
        budget = HedgeBudget(config.hedge_budget, config.hedge_min_per_s)
        hedger = Hedger(budget, config.hedge_max_delay_s, Stats())
    return Group(
        picker=picker,
        origin=Origin(origin),
        cache_bytes=config.cache_bytes,
        max_item_bytes=config.item_limit_bytes,
        negative_ttl_s=config.negative_ttl_s,
        fill_timeout_s=config.fill_timeout_s,
        peer_fill_timeout_s=config.peer_fill_timeout_s,
        # Fills wait on their upstream's bulkhead, not on this pool: big enough that a
        # silent peer's fills cannot keep a healthy one's waiting.
        max_fills=max(fills, config.peer_bulkhead_size * 2),
        hedger=hedger,
    )


def bulkheads(group: Group, misses: RouteGates, *gates: Gate) -> list[GateStats]:
    """Bulkheads returns every bulkhead's stats: the given ones, the origin's, each peer's."""
    found = [*misses.stats(), *(g.stats() for g in gates)]
    for upstream in (group.origin.upstream, *(p.upstream for p in group.picker.peers())):
        if upstream.bulkhead is not None:
            found.append(upstream.bulkhead.stats())
    return found


def start_prober(config: Config, group: Group) -> Prober:
    """Start_prober probes every peer and the origin in the background."""

    def targets() -> list[Target]:
        found = [Target(p.health, p.upstream, PEER_HEALTH_PATH) for p in group.picker.peers()]
        origin = group.origin
        return [*found, Target(origin.health, origin.upstream, ORIGIN_HEALTH_PATH)]

    prober = Prober(targets, config.probe_interval_s)
    prober.start()
    return prober


def create_app(
    config: Config,
    *,
    group: Group | None = None,
    registry: CollectorRegistry | None = None,
) -> HitPath:
    """Create_app builds the client port's WSGI app; every dependency can be passed in."""
    group = group or build_group(config)
    registry = registry or CollectorRegistry()
    misses = RouteGates(config.miss_limit, "misses")
    writes, reads = config.forward_limits
    forward_writes, forward_reads = Gate(writes, "forward_writes"), Gate(reads, "forward_reads")
    Metrics(
        registry, group.stats, group.in_flight,
        gates=lambda: bulkheads(group, misses, forward_writes, forward_reads),
        health=lambda: [*group.picker.health(), ("origin", group.origin.health.state())],
    )  # fmt: skip
    if config.peers_dns:
        DnsMembers(group.picker, dns_target(config), config.dns_refresh_s).start()
    app: App = falcon.App(media_type=falcon.MEDIA_JSON)
    problem.install(app)
    app.add_error_handler(LoadError, LoadErrorHandler(registry))
    app.add_route(routes.BLOB, BlobResource(group, misses))
    app.add_route(routes.STATS, StatsResource(group))
    # With a metrics port, serve_app serves the registry there instead.
    exposed = registry if config.metrics_port is None else None
    health.add_routes(app, exposed, ready=lambda: None)
    # Uploads and action results go to the origin, each kind in its own bulkhead: a
    # trickling upload holds a write place, never an /ac/ read's or a miss's.
    forward = Forward(
        app,
        config.origin_url,
        timeout_s=config.origin_timeout_s,
        max_forwards=writes + reads,
        registry=registry,
        gates=(forward_writes, forward_reads),
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
    start_prober(config, group)
    registry = CollectorRegistry()
    app = create_app(config, group=group, registry=registry)
    if config.metrics_port is not None:
        MetricsPort(registry, config.host, config.metrics_port).start()
    return app
