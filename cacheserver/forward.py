"""Forward: what a build tool needs beyond cached GETs, passed through to the origin.

``PUT /cas/{digest}`` and ``PUT /ac/{key}`` stream to casserver chunk by chunk (never held
whole here) and the origin's answer comes back as it is, status, headers and body, so its
verification, limits and tokens (the ``Authorization`` header is passed through) apply
unchanged. ``GET``/``HEAD /ac/{key}`` come from the origin every time and are never cached:
an action result can be overwritten, unlike a blob. Forwards hold a request thread each, so
at most ``max_forwards`` run at once (``503`` + ``Retry-After`` past that) and request
threads stay free for cache hits; every origin read waits at most ``timeout_s``.

Writes and ``/ac/`` reads take places of two separate bulkheads (``gates``): granian gives
a WSGI app no deadline on reading a request body, so a client trickling an upload holds
its place for as long as it trickles (up to TOTAL_TIMEOUT_S); only the write bulkhead
bounds how many can, and action-cache lookups and blob GETs never wait behind them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import IO, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import urllib3
from prometheus_client import CollectorRegistry, Counter, Gauge
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from cacheserver.errors import Overloaded
from cacheserver.gate import Gate
from cascommon.digest import InvalidDigest, parse_digest, parse_sha256
from cascommon.problem import PROBLEM_JSON, problem_body

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 256 * 1024
CONNECT_TIMEOUT_S: Final = 1.0
# Under gunicorn, a client body read that waits longer than this ends the forward.
BODY_READ_TIMEOUT_S: Final = 60.0
# A whole upload must end within this; 1 GiB at 4 MB/s fits.
TOTAL_TIMEOUT_S: Final = 600.0
# Request headers the origin needs (its token check, its body parsing), by WSGI name.
PASSED_ON: Final = (
    ("Authorization", "HTTP_AUTHORIZATION"),
    ("Content-Type", "CONTENT_TYPE"),
    ("Content-Length", "CONTENT_LENGTH"),
)
# Answer headers the client needs; hop-by-hop ones stay here.
PASSED_BACK: Final = frozenset(
    {"content-type", "content-length", "location", "www-authenticate", "cache-control",
     "retry-after", "etag", "vary"}
)  # fmt: skip
_ROUTES: Final = {("/cas/", "PUT"), ("/ac/", "PUT"), ("/ac/", "GET"), ("/ac/", "HEAD")}


class ClientBodyError(Exception):
    """ClientBodyError is raised when the client's body ends early or takes too long."""


class Forward:
    """Forward is WSGI middleware sending the origin's routes there and the rest to app."""

    def __init__(
        self,
        app: WSGIApplication,
        origin_url: str,
        *,
        timeout_s: float,
        max_forwards: int,
        registry: CollectorRegistry,
        gates: tuple[Gate, Gate] | None = None,
    ) -> None:
        self.app = app
        # The write and the /ac/ read bulkheads, in that order.
        self._gates = gates
        self._pool = urllib3.connection_from_url(
            origin_url.rstrip("/"),
            maxsize=max_forwards,
            block=False,
            timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, timeout_s), read=timeout_s),
        )
        self._prefix = urllib3.util.parse_url(origin_url).path or ""
        self._prefix = self._prefix.rstrip("/")
        self._slots = threading.BoundedSemaphore(max_forwards)
        self._answers = Counter(
            "forwarded_requests",
            "Requests passed to the origin (uploads, action results), by route, method, status.",
            ["route", "method", "status"],
            namespace="cacheserver",
            registry=registry,
        )
        self._in_flight = Gauge(
            "forwards_in_flight",
            "Forwards to the origin holding a request thread now.",
            namespace="cacheserver",
            registry=registry,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        method: str = environ.get("REQUEST_METHOD", "")
        prefix = path[: path.find("/", 1) + 1]
        if (prefix, method) not in _ROUTES:
            return self.app(environ, start_response)
        route = prefix + "{digest}"
        key = path[len(prefix) :]
        try:
            # Action keys are SHA-256 only, as casserver takes them.
            (parse_sha256 if prefix == "/ac/" else parse_digest)(key)
        except InvalidDigest as ex:
            return self._problem(start_response, route, method, 400, "Invalid digest", str(ex))
        gate = None if self._gates is None else self._gates[0 if method == "PUT" else 1]
        if not self._acquire(gate):
            return self._problem(
                start_response, route, method, 503, "Too many forwards", "retry shortly",
                [("Retry-After", "1")],
            )  # fmt: skip
        release = partial(self._release, gate)
        try:
            return self._forward(environ, start_response, route, method, path, release)
        except BaseException:
            release()
            raise

    def _forward(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        route: str,
        method: str,
        path: str,
        release: Callable[[], None],
    ) -> Iterable[bytes]:
        headers = {name: environ[key] for name, key in PASSED_ON if environ.get(key)}
        body: Iterator[bytes] | None = None
        if method == "PUT":
            sock = environ.get("gunicorn.socket")
            if sock is not None:
                # gthread reads the body without a timeout; granian offers none to set.
                sock.settimeout(BODY_READ_TIMEOUT_S)
            length = headers.get("Content-Length")
            body = _client_body(environ["wsgi.input"], int(length) if length else None)
        try:
            resp = self._pool.urlopen(
                method,
                self._prefix + path,
                body=body,
                headers=headers,
                chunked=method == "PUT" and "Content-Length" not in headers,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except NewConnectionError:  # before the timeout check: urllib3 makes it a subclass
            return self._failed(start_response, route, method, 502, "cannot connect", release)
        except Urllib3Timeout:
            return self._failed(start_response, route, method, 504, "no answer in time", release)
        except ClientBodyError as ex:  # the origin saw a cut body and keeps nothing
            release()
            return self._problem(start_response, route, method, 400, "Truncated body", str(ex))
        except (Urllib3Error, OSError) as ex:
            return self._failed(start_response, route, method, 502, type(ex).__name__, release)
        self._answers.labels(route, method, f"{resp.status // 100}xx").inc()
        start_response(
            f"{resp.status} {resp.reason or ''}".rstrip(),
            [(k, v) for k, v in resp.headers.items() if k.lower() in PASSED_BACK],
        )
        if method == "HEAD":
            # No body to relay: the place is free now, not when the server closes the
            # response after the client already has it (its next HEAD got a 503).
            resp.release_conn()
            release()
            return []
        return _Relay(resp, release)

    def _failed(
        self, start_response: StartResponse, route: str, method: str, status: int, why: str,
        release: Callable[[], None],
    ) -> Iterable[bytes]:  # fmt: skip
        log.warning(
            "forward failed", extra={"route": route, "method": method, "error": why,
                                     "upstream": "origin"},
        )  # fmt: skip
        release()
        title = "Origin timeout" if status == 504 else "Origin unavailable"
        return self._problem(start_response, route, method, status, title, f"origin: {why}")

    def _problem(
        self,
        start_response: StartResponse,
        route: str,
        method: str,
        status: int,
        title: str,
        detail: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> Iterable[bytes]:
        self._answers.labels(route, method, f"{status // 100}xx").inc()
        body = problem_body(status, title, detail)
        headers = [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(body)))]
        start_response(f"{status} {title}", headers + (extra or []))
        return [body]

    def _acquire(self, gate: Gate | None) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        if gate is not None:
            try:
                gate.enter()
            except Overloaded:
                self._slots.release()
                return False
        self._in_flight.inc()
        return True

    def _release(self, gate: Gate | None) -> None:
        if gate is not None:
            gate.leave()
        self._slots.release()
        self._in_flight.dec()  # last: a gauge at 0 means every place is free

    def close(self) -> None:
        """Close drops the pooled origin connections."""
        self._pool.close()


def _client_body(stream: IO[bytes], length: int | None) -> Iterator[bytes]:
    """_client_body yields the client's body in chunks, exactly length bytes when known."""
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    remaining = length
    while remaining is None or remaining > 0:
        want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
        chunk = stream.read(want)
        if not chunk:
            if remaining:
                raise ClientBodyError(f"request body ended {remaining} bytes short")
            return
        if time.monotonic() > deadline:
            raise ClientBodyError(f"request body took over {TOTAL_TIMEOUT_S:g}s")
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


class _Relay:
    """_Relay streams the origin's body to the client; close frees the slot and connection.

    A class, not a generator: a server may close a body it never iterated (HEAD), and a
    generator that never started would never run its cleanup.
    """

    def __init__(self, resp: urllib3.BaseHTTPResponse, release: Callable[[], None]) -> None:
        self._resp = resp
        self._release: Callable[[], None] | None = release
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._resp.read1(CHUNK_BYTES):
            yield chunk
        self._done = True
        self.close()  # read to the end: free the slot now, whatever the server does next

    def close(self) -> None:
        """Close returns the connection to the pool only when its body was read to the end."""
        if self._release is None:
            return
        if not self._done:
            self._resp.close()  # a half-read connection is never reused
        self._resp.release_conn()
        self._release()
        self._release = None
