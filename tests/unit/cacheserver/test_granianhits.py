"""Hits from granian's callback: the real granian modules, a recording stand-in for its proto."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import granian.server.mp  # the real module whose wrapper install replaces
import pytest

from cacheserver import granianhits
from cacheserver.hitpath import HEADER_MEMO_ITEMS, HitPath

KEY = "ab" * 32
VALUE = b"cached bytes"


class Proto:
    """Proto records what granian's Rust side would be asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))

    def response_iter(self, status: int, headers: list[tuple[str, str]], body: Any) -> None:
        self.sent.append((status, headers, b"".join(body)))


def origin_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("404 Not Found", [("X-App", environ["PATH_INFO"])])
    return [b"from the app"]


def scope(path: str, method: str = "GET", **headers: str) -> dict[str, Any]:
    return {
        "PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": "", "REMOTE_ADDR": "::1",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", **headers,
    }  # fmt: skip


def granian_wrap() -> Any:
    """Granian_wrap is what granian's worker spawner wraps a WSGI app with, now."""
    return granian.server.mp._wsgi_call_wrap  # type: ignore[attr-defined]


@pytest.fixture
def hits(monkeypatch: pytest.MonkeyPatch) -> HitPath:
    # Whatever install does to granian's module is undone after the test.
    monkeypatch.setattr(granian.server.mp, granianhits.WRAPPER_NAME, granian_wrap())
    return HitPath(origin_app, {KEY: VALUE}.get)


def spawned(hits: HitPath, access_log_fmt: str | None = None) -> granianhits.Runner:
    """Spawned is the callback granian's worker gets for hits, wrapped as granian wraps it."""
    wrapper: granianhits.Runner = granian_wrap()(hits, {}, access_log_fmt)
    return wrapper


def test_installed_callback_answers_hits_itself(hits: HitPath) -> None:
    assert granianhits.install(hits)
    proto = Proto()
    assert spawned(hits)(proto, scope(f"/cas/{KEY}")) == 200
    assert proto.sent == [(200, hits.answer(scope(f"/cas/{KEY}"))[0], VALUE)]  # type: ignore[index]
    headers = dict(proto.sent[0][1])
    assert headers["X-Cache"] == "hit" and headers["Content-Length"] == str(len(VALUE))
    assert headers["ETag"] == f'"{KEY}"'
    head = Proto()
    spawned(hits)(head, scope(f"/cas/{KEY}", "HEAD"))
    assert head.sent[0][2] == b"" and dict(head.sent[0][1])["Content-Length"] == str(len(VALUE))


@pytest.mark.parametrize(
    "request_scope",
    [
        scope(f"/cas/{'cd' * 32}"),  # not cached
        scope(f"/cas/{KEY}", HTTP_RANGE="bytes=0-1"),
        scope(f"/cas/{KEY}", HTTP_IF_NONE_MATCH=f'"{KEY}"'),
        scope(f"/cas/{KEY}", "PUT"),
        scope("/stats"),
    ],
)
def test_everything_else_goes_through_granians_wrapper(
    hits: HitPath, request_scope: dict[str, Any]
) -> None:
    granianhits.install(hits)
    proto = Proto()
    assert spawned(hits)(proto, request_scope) == 404
    [(status, headers, body)] = proto.sent
    assert (status, body) == (404, b"from the app")
    assert headers == [("X-App", request_scope["PATH_INFO"])]


def test_access_logs_and_other_apps_keep_granians_wrapper(hits: HitPath) -> None:
    granianhits.install(hits)
    logged = spawned(hits, "%(path)s")
    assert getattr(logged, "__wrapped__", None) is hits  # granian's own (functools.wraps)
    assert getattr(spawned(hits), "__wrapped__", None) is None
    proto = Proto()
    logged(proto, scope(f"/cas/{KEY}"))  # still a hit, through the WSGI hit path
    assert proto.sent[0][0] == 200 and proto.sent[0][2] == VALUE
    other = granian_wrap()(origin_app, {}, None)
    proto = Proto()
    other(proto, scope(f"/cas/{KEY}"))
    assert proto.sent[0][0] == 404


def test_a_second_install_wraps_granians_own_wrapper(hits: HitPath) -> None:
    original = granian_wrap()
    granianhits.install(HitPath(origin_app, lambda key: None))
    granianhits.install(hits)
    assert granian_wrap().granian_wrap is original
    proto = Proto()
    spawned(hits)(proto, scope(f"/cas/{KEY}"))
    assert proto.sent[0][2] == VALUE


def test_without_granians_wrapper_nothing_is_replaced(
    hits: HitPath, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(granianhits, "WRAPPER_NAME", "_not_there")
    with caplog.at_level(logging.WARNING, "cacheserver.granianhits"):
        assert not granianhits.install(hits)
    assert "hits take the WSGI path" in caplog.text
    assert not hasattr(granian_wrap(), "granian_wrap")


def test_hit_headers_are_kept_for_a_bounded_number_of_blobs() -> None:
    values = {f"{i:064x}": bytes(i % 7) for i in range(HEADER_MEMO_ITEMS + 10)}
    hits = HitPath(origin_app, values.get)
    for key, value in values.items():
        found = hits.answer(scope(f"/cas/{key}"))
        assert found is not None and found[1] == value
        assert dict(found[0])["Content-Length"] == str(len(value))
        assert dict(found[0])["ETag"] == f'"{key}"'
        assert len(hits._headers) <= HEADER_MEMO_ITEMS
    again = hits.answer(scope(f"/cas/{key}"))
    assert again is not None and again[0] is found[0]  # the kept list, not a new one


def test_the_replaced_wrapper_is_checked_by_name_and_parameters() -> None:
    import granian.server.mp

    from cacheserver.granianhits import _fits

    # Fails when a granian upgrade renames or reshapes the private wrapper: hits would then
    # silently take the slow WSGI path.
    assert _fits(granian.server.mp._wsgi_call_wrap)
    assert _fits(lambda callback, scope_opts, access_log_fmt=None: None)
    assert not _fits(lambda callback, opts: None)
    assert not _fits(None)
