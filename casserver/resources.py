"""Falcon resources for /cas/{digest} and /cas: thin on_* methods over Ingest and BlobStore."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from cascommon.blobheaders import CACHE_CONTROL, OCTET_STREAM, etag, none_match
from cascommon.digest import Digest, parse_digest
from cascommon.ranges import RangeNotSatisfiable, if_range_allows, parse_range
from casserver.ingest import Ingest, Stored
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.slots import UploadSlots
from casserver.storage import BlobStore
from casserver.upload import Body, open_body


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """UploadLimits bounds every upload: its size, how long a read may wait, how many at once."""

    max_blob_bytes: int
    body_timeout_s: float
    slots: UploadSlots

    def open_body(self, req: falcon.Request) -> Body:
        """Open_body checks req's upload headers and returns its body within these limits."""
        return open_body(req, self.max_blob_bytes, self.body_timeout_s)


class BlobResource:
    """BlobResource serves GET, HEAD and PUT of one blob named by its digest."""

    def __init__(
        self,
        store: BlobStore,
        ingest: Ingest,
        metrics: Metrics,
        limits: UploadLimits,
        recency: Recency | None = None,
    ) -> None:
        self._recency = recency
        self._store = store
        self._ingest = ingest
        self._metrics = metrics
        self._limits = limits

    def on_get(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        d = _parse(req, digest)
        blob = self._store.open(d)
        if blob is None:
            raise _not_found(d)
        self._used(d)
        tag = _validators(resp, d)
        if none_match(req.get_header("If-None-Match"), tag):
            blob.close()
            resp.status = falcon.HTTP_304
            return
        length = blob.size
        try:
            if if_range_allows(req.get_header("If-Range"), tag):
                byte_range = parse_range(req.get_header("Range"), blob.size)
                if byte_range is not None:
                    blob.window(byte_range.start, byte_range.length)
                    length = byte_range.length
                    resp.status = falcon.HTTP_206
                    resp.set_header("Content-Range", byte_range.content_range)
        except RangeNotSatisfiable:
            blob.close()
            # An error must not be kept by shared caches for a year like the blob.
            resp.delete_header("Cache-Control")
            raise
        resp.content_type = OCTET_STREAM
        resp.set_stream(blob, length)
        self._metrics.sent_bytes.inc(length)

    def on_head(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        d = _parse(req, digest)
        size = self._store.size(d)
        if size is None:
            raise _not_found(d)
        self._used(d)
        tag = _validators(resp, d)
        if none_match(req.get_header("If-None-Match"), tag):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = OCTET_STREAM
        resp.content_length = size

    def _used(self, d: Digest) -> None:
        if self._recency is not None:
            self._recency.read(str(self._store.path(d)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        d = _parse(req, digest)
        body = self._limits.open_body(req)
        with self._limits.slots.hold():
            stored = self._ingest.put(body, d)
        _answer(resp, stored)


class BlobCollection:
    """BlobCollection serves POST /cas: the server names the blob by its SHA-256."""

    def __init__(self, ingest: Ingest, limits: UploadLimits) -> None:
        self._ingest = ingest
        self._limits = limits

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.log_extra = {}
        body = self._limits.open_body(req)
        with self._limits.slots.hold():
            stored = self._ingest.post(body)
        _answer(resp, stored)
        resp.location = f"/cas/{stored.digest}"


def _parse(req: falcon.Request, digest: str) -> Digest:
    req.context.log_extra = {"digest": digest[:80]}
    return parse_digest(digest)


def _not_found(d: Digest) -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(title="Blob not found", description=f"no blob {d.algorithm}:{d.hex}")


def _validators(resp: falcon.Response, d: Digest) -> str:
    tag = etag(d.hex)
    resp.set_header("ETag", tag)
    resp.set_header("Cache-Control", CACHE_CONTROL)
    resp.set_header("Accept-Ranges", "bytes")
    return tag


def _answer(resp: falcon.Response, stored: Stored) -> None:
    resp.status = falcon.HTTP_201 if stored.created else falcon.HTTP_200
    resp.media = {"digest": stored.digest, "size": stored.size}
