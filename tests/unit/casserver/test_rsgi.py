"""The RSGI front's WSGI bridge: the environ it builds and how it runs the app."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any, cast
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest

from casserver.bodyreader import BodyRules
from casserver.fastget import FastGet
from casserver.rsgi import RsgiFront, call_wsgi, wsgi_environ


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


class Recorder:
    """Recorder is the part of granian's RSGI protocol the front answers with."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answers.append((status, headers, body))


class Exploding:
    """Exploding stands in for FastGet with a bug: it raises out of serve."""

    def serve(self, scope: Any, protocol: Any) -> int:
        raise RuntimeError("a bug")


def test_an_unexpected_exception_is_a_500_problem_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        raise AssertionError("not reached")

    front = RsgiFront(
        app, cast(FastGet, Exploding()), BodyRules(1, 1.0, 1.0), threads=1, upload_threads=1
    )
    protocol = Recorder()
    scope = Scope()
    scope.method = "GET"
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="casserver.errors"):
            loop.run_until_complete(front.__rsgi__(scope, protocol))
        front.__rsgi_del__(loop)
    finally:
        loop.close()
    [(status, headers, body)] = protocol.answers
    assert (status, dict(headers)["content-type"]) == (500, "application/problem+json")
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "unexpected server error",
    }
    assert [r.message for r in caplog.records] == ["unhandled error"]
