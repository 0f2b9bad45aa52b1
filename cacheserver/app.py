"""The cacheserver WSGI app: Falcon resources behind a thin path for cache hits."""

from __future__ import annotations

import logging
import os
from typing import Any

import falcon
from prometheus_client import CollectorRegistry

from cacheserver.config import Config, dns_target
from cacheserver.errors import CorruptBlob, LoadError, NotFound, UpstreamTimeout
from cacheserver.forward import Forward
from cacheserver.group import Group
from cacheserver.hitpath import HitPath
from cacheserver.membership import DnsMembers
from cacheserver.metrics import Metrics
from cacheserver.origin import Origin
from cacheserver.peers import Peer, PeerPicker, normalize_url
from cacheserver.responses import blob_headers, not_modified_headers
from cascommon import health, logs, problem
from cascommon.blobheaders import OCTET_STREAM, etag, none_match
from cascommon.digest import Digest, InvalidDigest, parse_digest
from cascommon.ranges import RangeNotSatisfiable, if_range_allows, parse_range

App = falcon.App[falcon.Request, falcon.Response]

log = logging.getLogger(__name__)


def _digest(text: str) -> Digest:
    try:
        return parse_digest(text)
    except InvalidDigest as ex:
        raise falcon.HTTPBadRequest(title="Invalid digest", description=str(ex)) from None


class BlobResource:
    """BlobResource answers GET/HEAD /cas/{digest} from the group, with origin headers."""

    def __init__(self, group: Group) -> None:
        self._group = group

    def on_get(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        d = _digest(digest)
        value, source = self._group.get(d)
        tag = etag(d.hex)
        if none_match(req.get_header("If-None-Match"), tag):
            resp.status = falcon.HTTP_304
            resp.set_headers(not_modified_headers(d.hex, source))
            return
        resp.set_headers(blob_headers(d.hex, len(value), source))
        # RFC 9110 section 14.2: Range is defined for GET only; HEAD ignores it (as casserver).
        header = req.get_header("Range") if req.method == "GET" else None
        if header and if_range_allows(req.get_header("If-Range"), tag):
            try:
                rng = parse_range(header, len(value))
            except RangeNotSatisfiable as ex:
                resp.delete_header("Content-Length")
                resp.delete_header("Cache-Control")  # not cacheable like the blob
                raise falcon.HTTPRangeNotSatisfiable(ex.size) from None
            if rng is not None:
                resp.status = falcon.HTTP_206
                resp.set_header("Content-Range", rng.content_range)
                value = value[rng.start : rng.end]
        resp.set_header("Content-Length", str(len(value)))
        resp.data = value

    on_head = on_get


class PeerResource:
    """PeerResource is the peer protocol: raw bytes from this member's cache or origin."""

    def __init__(self, group: Group) -> None:
        self._group = group

    def on_get(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        resp.data = self._group.get_for_peer(_digest(digest))
        resp.content_type = OCTET_STREAM


class StatsResource:
    """StatsResource answers /stats with groupcache's counters and the ring's members."""

    def __init__(self, group: Group) -> None:
        self._group = group

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {**self._group.stats(), "members": list(self._group.picker.members())}


def _load_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    if isinstance(ex, NotFound):
        raise falcon.HTTPNotFound(description="no blob with this digest")
    if isinstance(ex, UpstreamTimeout):
        raise falcon.HTTPGatewayTimeout(description="the origin did not answer in time")
    if isinstance(ex, CorruptBlob):
        raise falcon.HTTPBadGateway(description="the origin sent bytes that do not match")
    raise falcon.HTTPBadGateway(description="the origin is unavailable")


def build_group(config: Config) -> Group:
    """Build_group wires the ring, the peers and the origin from config."""
    fills = config.fill_threads

    def new_peer(url: str) -> Peer:
        return Peer(
            url,
            config.peer_wait_s,
            config.peer_max_backoff_s,
            fills,
            total_timeout_s=config.fetch_total_timeout_s,
        )

    picker = PeerPicker(config.member_url, config.peers, new_peer)
    if config.peers and picker.self_url not in {normalize_url(p) for p in config.peers}:
        # Every member must spell every member alike, or their rings disagree and a
        # key has several owners (and several origin loads).
        log.warning(
            "this member's URL is not in CACHE_PEERS; check that every member spells it so",
            extra={"self": picker.self_url, "peers": list(config.peers)},
        )
    return Group(
        picker=picker,
        origin=Origin(
            config.origin_url, config.origin_timeout_s, fills, config.fetch_total_timeout_s
        ),
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
    """Create_app builds the WSGI app; every dependency can be passed in."""
    group = group or build_group(config)
    registry = registry or CollectorRegistry()
    Metrics(registry, group.stats, group.in_flight)
    if config.peers_dns:
        name, port = dns_target(config)
        DnsMembers(group.picker, name, port, config.dns_refresh_s).start()
    app: App = falcon.App(media_type=falcon.MEDIA_JSON)
    problem.install(app)
    app.add_error_handler(LoadError, _load_error)
    app.add_route("/cas/{digest}", BlobResource(group))
    app.add_route("/_groupcache/cas/{digest}", PeerResource(group))
    app.add_route("/stats", StatsResource(group))
    health.add_routes(app, registry, ready=lambda: None)
    # Uploads and action results go to the origin; half the threads stay for reads.
    forward = Forward(
        app,
        config.origin_url,
        timeout_s=config.origin_timeout_s,
        max_forwards=max(1, config.threads // 2),
        registry=registry,
    )
    return HitPath(forward, group.cached)


def get_app() -> HitPath:
    """Get_app reads the environment; it is what granian and gunicorn run."""
    config = Config.from_env(os.environ)
    logs.configure(config.log_level)
    return create_app(config)
