"""Falcon resources of the client port: blobs through the group, and its stats."""

from __future__ import annotations

import falcon

from cacheserver.gate import Gate
from cacheserver.group import Group
from cacheserver.responses import blob_headers, not_modified_headers
from cacheserver.stream import BlobStream
from cascommon.blobheaders import etag, none_match
from cascommon.conditional import select
from cascommon.digest import Digest, InvalidDigest, parse_digest
from cascommon.ranges import RangeNotSatisfiable


def _digest(text: str) -> Digest:
    try:
        return parse_digest(text)
    except InvalidDigest as ex:
        raise falcon.HTTPBadRequest(title="Invalid digest", description=str(ex)) from None


class BlobResource:
    """BlobResource answers GET/HEAD /cas/{digest} from the group, with origin headers.

    What is not a hit waits inside the gate: past its limit a miss is refused at once
    (503), so misses never hold every request thread and hits never queue behind them.
    """

    def __init__(self, group: Group, gate: Gate) -> None:
        self._group = group
        self._gate = gate

    def on_get(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        d = _digest(digest)
        value = self._group.cached(d.hex)
        source = "hit"
        if value is None:
            self._gate.enter()
            try:
                loaded, source = self._group.get(d)
            except BaseException:
                self._gate.leave()
                raise
            if isinstance(loaded, BlobStream):
                loaded.on_close(self._gate.leave)
                self._stream(req, resp, d, loaded, source)
                return
            self._gate.leave()
            value = loaded
        self._whole(req, resp, d, value, source)

    on_head = on_get

    @staticmethod
    def _whole(
        req: falcon.Request, resp: falcon.Response, d: Digest, value: bytes, source: str
    ) -> None:
        try:
            chosen = select(
                req.method, len(value), etag(d.hex),
                if_none_match=req.get_header("If-None-Match"),
                if_range=req.get_header("If-Range"), range_header=req.get_header("Range"),
            )  # fmt: skip
        except RangeNotSatisfiable as ex:
            resp.set_headers(not_modified_headers(d.hex, source))
            resp.delete_header("Cache-Control")  # not cacheable like the blob
            raise falcon.HTTPRangeNotSatisfiable(ex.size) from None
        if chosen.not_modified:
            resp.status = falcon.HTTP_304
            resp.set_headers(not_modified_headers(d.hex, source))
            return
        resp.set_headers(blob_headers(d.hex, len(value), source))
        rng = chosen.byte_range
        if rng is not None:
            resp.status = falcon.HTTP_206
            resp.set_header("Content-Range", rng.content_range)
            value = value[rng.start : rng.end]
        resp.set_header("Content-Length", str(len(value)))
        resp.data = value

    @staticmethod
    def _stream(
        req: falcon.Request, resp: falcon.Response, d: Digest, stream: BlobStream, source: str
    ) -> None:
        # A Range on a streamed blob is ignored (RFC 9110 allows it): the whole blob
        # must pass through the hash before its last bytes go out.
        matched = none_match(req.get_header("If-None-Match"), etag(d.hex))
        if req.method == "HEAD" or matched:
            stream.close()
        if matched:  # HEAD as GET, and as a cached blob or the origin answers
            resp.status = falcon.HTTP_304
            resp.set_headers(not_modified_headers(d.hex, source))
            return
        resp.set_headers(blob_headers(d.hex, stream.length or 0, source))
        resp.delete_header("Accept-Ranges")  # a stream is whole or nothing
        if stream.length is None:
            resp.delete_header("Content-Length")  # chunked: a cut stream has no last chunk
        if req.method == "GET":
            resp.stream = stream


class StatsResource:
    """StatsResource answers /stats with groupcache's counters and the ring's members."""

    def __init__(self, group: Group) -> None:
        self._group = group

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {**self._group.stats(), "members": list(self._group.picker.members())}
