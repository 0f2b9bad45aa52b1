"""Forward in process (falcon.testing) in front of a small recording origin on loopback."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import falcon.testing
import pytest
from prometheus_client import CollectorRegistry

from cacheserver.forward import Forward
from tests.support import LoopbackHTTPServer

KEY = hashlib.sha256(b"action").hexdigest()


class RecordingOrigin(LoopbackHTTPServer):
    """RecordingOrigin keeps each request it gets and answers 201 with a hop-by-hop header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
                origin.requests.append((self.command, self.path, dict(self.headers), body))
                reply = b'{"stored": true}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("WWW-Authenticate", 'Bearer realm="cas"')
                self.send_header("X-Origin-Only", "1")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_PUT = do_GET = do_HEAD = _record  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(Handler)


class Inner:
    """Inner is the app behind Forward: it counts what reaches it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, object], start_response: object) -> list[bytes]:
        self.calls += 1
        start_response("204 No Content", [])  # type: ignore[operator]
        return []


@pytest.fixture
def origin() -> Iterator[RecordingOrigin]:
    o = RecordingOrigin()
    yield o
    o.close()


def client(
    origin: RecordingOrigin, inner: Inner, max_forwards: int = 2
) -> falcon.testing.TestClient:
    forward = Forward(
        inner, origin.url, timeout_s=2, max_forwards=max_forwards, registry=CollectorRegistry()
    )
    return falcon.testing.TestClient(forward)  # type: ignore[arg-type]


def test_put_passes_body_and_authorization_and_returns_the_origins_answer(
    origin: RecordingOrigin,
) -> None:
    inner = Inner()
    resp = client(origin, inner).simulate_put(
        f"/ac/{KEY}",
        body=b"result bytes",
        headers={"Authorization": "Bearer t", "Cookie": "not for the origin"},
    )
    assert resp.status_code == 201
    assert resp.content == b'{"stored": true}'
    assert resp.headers["www-authenticate"] == 'Bearer realm="cas"'
    assert "x-origin-only" not in resp.headers
    [(method, path, headers, body)] = origin.requests
    assert (method, path, body) == ("PUT", f"/ac/{KEY}", b"result bytes")
    assert headers["Authorization"] == "Bearer t"
    assert "Cookie" not in headers
    assert inner.calls == 0


def test_get_and_head_of_action_results_always_ask_the_origin(origin: RecordingOrigin) -> None:
    c = client(origin, Inner())
    for _ in range(3):
        assert c.simulate_get(f"/ac/{KEY}").status_code == 201
    assert c.simulate_head(f"/ac/{KEY}").content == b""
    assert [r[0] for r in origin.requests] == ["GET", "GET", "GET", "HEAD"]


def test_other_routes_and_methods_go_to_the_app(origin: RecordingOrigin) -> None:
    inner = Inner()
    c = client(origin, inner)
    c.simulate_get(f"/cas/{KEY}")
    c.simulate_post("/cas", body=b"x")
    c.simulate_delete(f"/ac/{KEY}")
    c.simulate_get("/stats")
    assert (inner.calls, origin.requests) == (4, [])


@pytest.mark.parametrize("path", ["/ac/" + KEY[:40], "/ac/" + KEY.upper(), "/cas/nothex"])
def test_bad_keys_are_400_and_never_reach_the_origin(origin: RecordingOrigin, path: str) -> None:
    resp = client(origin, Inner()).simulate_put(path, body=b"x")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert origin.requests == []


def test_every_slot_comes_back(origin: RecordingOrigin) -> None:
    c = client(origin, Inner(), max_forwards=1)
    for _ in range(5):  # one slot, five forwards in a row: each frees it
        assert c.simulate_put(f"/cas/{KEY}", body=b"x").status_code == 201


def test_past_the_cap_is_503_with_retry_after(origin: RecordingOrigin) -> None:
    forward = Forward(
        Inner(), origin.url, timeout_s=2, max_forwards=1, registry=CollectorRegistry()
    )
    entered, release = threading.Event(), threading.Event()

    class SlowBody:
        def read(self, size: int = -1) -> bytes:
            entered.set()
            release.wait(10)
            return b"x"

    def slow_put() -> None:
        env = falcon.testing.create_environ(f"/cas/{KEY}", method="PUT")
        env["wsgi.input"] = SlowBody()
        env["CONTENT_LENGTH"] = "1"
        list(forward(env, lambda *a: None))  # type: ignore[arg-type]

    holder = threading.Thread(target=slow_put)
    holder.start()
    try:
        assert entered.wait(10)
        resp = falcon.testing.TestClient(forward).simulate_put(f"/ac/{KEY}", body=b"x")  # type: ignore[arg-type]
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "1"
    finally:
        release.set()
        holder.join(10)
    assert (
        falcon.testing.TestClient(forward).simulate_put(f"/ac/{KEY}", body=b"x").status_code == 201
    )  # type: ignore[arg-type]
