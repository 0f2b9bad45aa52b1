"""The Falcon resource for /ac/{digest}: Bazel's action cache over an ActionCache."""

from __future__ import annotations

import falcon

from cascommon.blobheaders import OCTET_STREAM
from cascommon.digest import Digest, parse_sha256
from casserver.actioncache import ActionCache
from casserver.resources import UploadLimits

# An entry can be replaced at any time: caches must ask again rather than keep it.
NO_CACHE = "no-cache"


class ActionResource:
    """ActionResource serves GET, HEAD and PUT of one action result by its key."""

    def __init__(self, cache: ActionCache, limits: UploadLimits) -> None:
        self._cache = cache
        self._limits = limits

    def on_get(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        entry = self._cache.open(_key(req, digest))
        if entry is None:
            raise _not_found()
        resp.content_type = OCTET_STREAM
        resp.set_header("Cache-Control", NO_CACHE)
        resp.set_stream(entry, entry.size)

    def on_head(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        size = self._cache.size(_key(req, digest))
        if size is None:
            raise _not_found()
        resp.content_type = OCTET_STREAM
        resp.set_header("Cache-Control", NO_CACHE)
        resp.content_length = size

    def on_put(self, req: falcon.Request, resp: falcon.Response, digest: str) -> None:
        key = _key(req, digest)
        with self._limits.slots.hold():
            size = self._cache.put(key, self._limits.open_body(req))
        # Bazel only looks at the status; the body says what was kept, as /cas/ does.
        resp.media = {"digest": key.hex, "size": size}


def _key(req: falcon.Request, digest: str) -> Digest:
    req.context.log_extra = {"key": digest[:80]}
    return parse_sha256(digest)


def _not_found() -> falcon.HTTPNotFound:
    return falcon.HTTPNotFound(title="Action result not found")
