"""The hot path: whole-blob cache hits answered before Falcon sees the request.

Falcon's routing and response objects cost about as much as the rest of a 25 KB hit
together, and a hit needs neither, so this thin WSGI layer serves it from memory and
passes everything else (misses, ranges, conditionals, other routes) to the app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from cacheserver.responses import Headers, blob_headers
from cacheserver.routes import BLOB_PREFIX as PREFIX

_DIGEST_LENGTHS: Final = frozenset({40, 64})
_EMPTY: Final = b""
# Header lists of recent hits, kept whole: a blob's headers never change (its digest fixes
# its bytes), and building them was a fifth of a hit's Python time. Emptied when full.
HEADER_MEMO_ITEMS: Final = 4096


class HitPath:
    """HitPath answers GET/HEAD /cas/<digest> hits itself and delegates everything else."""

    def __init__(
        self,
        app: WSGIApplication,
        cached: Callable[[str], bytes | None],
        count: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self._cached = cached
        self._headers: dict[str, Headers] = {}
        # Counts hits answered from granian's callback (CallbackHits in /stats), so that a
        # granian that stopped calling the replaced wrapper shows as 0, not as nothing.
        self.count = count or (lambda name: None)

    def answer(self, environ: Mapping[str, Any]) -> tuple[Headers, bytes] | None:
        """Answer is the headers and body of a 200 hit for a WSGI environ (or granian's scope).

        None when the request is not a plain whole-blob GET/HEAD or the blob is not cached.
        """
        path: str = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if (
            path.startswith(PREFIX)
            and (method == "GET" or method == "HEAD")
            and len(path) - len(PREFIX) in _DIGEST_LENGTHS
            and "HTTP_RANGE" not in environ
            and "HTTP_IF_NONE_MATCH" not in environ
        ):
            key = path[len(PREFIX) :]
            value = self._cached(key)
            if value is not None:
                headers = self._headers.get(key)
                if headers is None:
                    if len(self._headers) >= HEADER_MEMO_ITEMS:
                        self._headers.clear()
                    headers = self._headers[key] = blob_headers(key, len(value), "hit")
                # The cached bytes themselves: no copy on the way out.
                return headers, value if method == "GET" else _EMPTY
        return None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        found = self.answer(environ)
        if found is None:
            return self.app(environ, start_response)
        start_response("200 OK", found[0])
        return [found[1]]
