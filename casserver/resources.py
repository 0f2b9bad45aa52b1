"""Falcon resources for /cas/{digest} and /cas: thin on_* methods over Ingest and BlobStore."""

from __future__ import annotations

from dataclasses import dataclass

import falcon

from cascommon.digest import Digest, parse_digest
from cascommon.ranges import RangeNotSatisfiable
from casserver.blobfile import UnreadableBlob
from casserver.blobsize import DamagedBlob
from casserver.getplan import Prebuilt, decide
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
        self._render(req, resp, _parse(req, digest), "GET")

    def on_head(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        self._render(req, resp, _parse(req, digest), "HEAD")

    def _render(self, req: falcon.Request, resp: falcon.Response, d: Digest, method: str) -> None:
        """Render answers the plan ``getplan.decide`` makes, as the fast path does."""
        try:
            blob = self._store.open(d)
        except (DamagedBlob, UnreadableBlob) as exc:
            self._metrics.read_errors.labels(getattr(exc, "reason", "unreadable")).inc()
            raise
        if blob is None:
            raise _not_found(d)
        if self._recency is not None:
            self._recency.read(str(self._store.path(d)))
        prebuilt = Prebuilt(d.hex, blob.size)
        try:
            plan = decide(
                method,
                prebuilt,
                req.get_header("If-None-Match"),
                req.get_header("If-Range"),
                req.get_header("Range"),
            )
        except RangeNotSatisfiable:
            blob.close()
            # An error must not be kept by shared caches for a year like the blob.
            resp.set_header("ETag", prebuilt.tag)
            resp.set_header("Accept-Ranges", "bytes")
            raise
        resp.status = plan.status
        for name, value in plan.headers:
            resp.set_header(name, value)
        if not plan.has_body or method != "GET":
            blob.close()
            return
        resp.stream = blob.window(plan.start, plan.length)
        self._metrics.sent_bytes.inc(plan.length)

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


def _answer(resp: falcon.Response, stored: Stored) -> None:
    resp.status = falcon.HTTP_201 if stored.created else falcon.HTTP_200
    resp.media = {"digest": stored.digest, "size": stored.size}
