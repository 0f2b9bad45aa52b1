"""The RSGI front's WSGI bridge: the environ it builds and how it runs the app."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from casserver.rsgi import call_wsgi, wsgi_environ


class Headers:
    """Headers is a small stand-in for granian's RSGIHeaders (items may repeat a name)."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def get(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == name), default)

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]


class Scope:
    proto = "http"
    method = "PUT"
    path = "/cas/caf\u00e9"  # granian hands over the path percent-decoded
    query_string = "a=1"
    server = "127.0.0.1:5000"
    client = "127.0.0.1:40000"
    scheme = "http"
    http_version = "1.1"
    headers = Headers(
        ("content-type", "application/octet-stream"),
        ("content-length", "3"),
        ("x-tag", "a"),
        ("x-tag", "b"),
    )


def test_the_environ_is_pep_3333() -> None:
    body = io.BytesIO(b"abc")
    env = wsgi_environ(Scope(), body)
    assert env["PATH_INFO"] == "/cas/caf\u00c3\u00a9"  # UTF-8 bytes as latin-1 characters
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("application/octet-stream", "3")
    assert env["HTTP_X_TAG"] == "a,b"
    assert "HTTP_CONTENT_LENGTH" not in env
    assert (env["SERVER_NAME"], env["SERVER_PORT"], env["REMOTE_ADDR"]) == (
        "127.0.0.1",
        "5000",
        "127.0.0.1",
    )
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["wsgi.input"] is body


def test_call_wsgi_returns_the_whole_answer_and_closes_it() -> None:
    closed = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"he", b"llo"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Body:
        start_response("201 Created", [("content-type", "text/plain")])
        return Body()

    assert call_wsgi(app, {}) == (201, [("content-type", "text/plain")], b"hello")
    assert closed == [True]
