"""The app granian runs (RSGI): blob GETs on the event loop, everything else in Falcon.

Falcon stays a WSGI app (gunicorn runs it as is); here it runs in a thread pool, its
``wsgi.input`` fed from the event loop by a ``BodyReader`` so that slow bodies are cut
on time. Uploads get a pool of their own, so they never take the threads that health,
metrics and error answers need; GETs of stored blobs need no thread at all.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from wsgiref.types import WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry

from cascommon import logs
from cascommon.problem import PROBLEM_JSON, problem_body
from casserver.app import create_app
from casserver.auth import Tokens
from casserver.blobcache import BlobCache
from casserver.bodyreader import BodyReader, BodyRules
from casserver.config import Config
from casserver.fastget import FastGet
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.storage import BlobStore

access_log = logging.getLogger("casserver.access")
error_log = logging.getLogger("casserver.errors")

_BODY_METHODS: Final = frozenset({"PUT", "POST", "PATCH"})
_SPECIAL: Final = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}

Answer = tuple[int, list[tuple[str, str]], bytes]


class RsgiFront:
    """RsgiFront is the RSGI application: FastGet first, then the WSGI app in threads."""

    def __init__(
        self,
        app: WSGIApplication,
        fast: FastGet,
        rules: BodyRules,
        *,
        threads: int,
        upload_threads: int,
        log_access: bool = False,
    ) -> None:
        self._app = app
        self._fast = fast
        self._rules = rules
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="cas-app")
        # One more than the upload cap: the upload past it gets its 503 at once.
        self._uploads = ThreadPoolExecutor(upload_threads + 1, thread_name_prefix="cas-upload")
        self._log_access = log_access

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._uploads.shutdown(wait=False, cancel_futures=True)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        # The clock is read only for the access log: FastGet times itself.
        started = time.perf_counter() if self._log_access else 0.0
        try:
            status = self._fast.serve(scope, protocol) or await self._falcon(scope, protocol)
        except Exception:
            # Granian would answer a bare 500 and print a traceback: answer as every error.
            error_log.exception("unhandled error", extra={"method": scope.method, "route": "rsgi"})
            status = 500
            body = problem_body(500, "Internal Server Error", "unexpected server error")
            headers = [("content-type", PROBLEM_JSON), ("content-length", str(len(body)))]
            try:
                protocol.response_bytes(500, headers, body)
            except Exception:  # an answer was already started: nothing to add
                pass
        if self._log_access:
            _log(scope, status, started)

    async def _falcon(self, scope: Any, protocol: Any) -> int:
        loop = asyncio.get_running_loop()
        if scope.method in _BODY_METHODS:
            body: Any = BodyReader(protocol.__aiter__(), loop, self._rules)
            pool = self._uploads
        else:
            body, pool = io.BytesIO(b""), self._pool
        environ = wsgi_environ(scope, body)
        status, headers, data = await loop.run_in_executor(pool, call_wsgi, self._app, environ)
        protocol.response_bytes(status, headers, data)
        return status


def _log(scope: Any, status: int, started: float) -> None:
    access_log.info(
        "request",
        extra={
            "method": scope.method,
            "path": scope.path,
            "status": status,
            "duration_s": round(time.perf_counter() - started, 6),
            "remote": scope.client,
        },
    )


def wsgi_environ(scope: Any, body: Any) -> WSGIEnvironment:
    """Wsgi_environ is the PEP 3333 environ of an RSGI request."""
    server_host, _, server_port = scope.server.rpartition(":")
    environ: WSGIEnvironment = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # Granian has percent-decoded the path already; PEP 3333 wants its bytes as latin-1.
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": scope.client.rpartition(":")[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": body,
        "wsgi.input_terminated": True,  # the reader ends where the body ends
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = _SPECIAL.get(name) or "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: WSGIApplication, environ: WSGIEnvironment) -> Answer:
    """Call_wsgi runs app on environ and returns its whole answer (small: blobs go by FastGet)."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None

    result: Iterable[bytes] = app(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        close: Callable[[], None] | None = getattr(result, "close", None)
        if close is not None:
            close()
    return int(started[0].split(" ", 1)[0]), list(started[1]), data


def create_front(config: Config) -> RsgiFront:
    """Create_front builds the Falcon app and the fast path over one store and one registry."""
    store = BlobStore(config.storage_dir, min_free_bytes=config.min_free_bytes)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    recency = Recency(store.root, config.evict_grace_s) if config.max_bytes is not None else None
    app = create_app(config, store=store, registry=registry, metrics=metrics, recency=recency)
    rules = BodyRules(config.body_min_rate_bps, config.body_grace_s, config.body_timeout_s)
    return RsgiFront(
        app,
        FastGet(
            store,
            metrics,
            Tokens(config.write_token, config.read_token),
            BlobCache(config.memory_cache_bytes, config.memory_cache_item_bytes),
            recency,
        ),
        rules,
        threads=config.threads,
        upload_threads=config.max_uploads,
        log_access=config.access_log,
    )


def load(config: Config) -> RsgiFront:
    """Load builds the front in a granian worker, with JSON logs."""
    logs.configure(config.log_level)
    return create_front(config)
