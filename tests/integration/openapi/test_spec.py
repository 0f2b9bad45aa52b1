"""The OpenAPI documents against the running servers: routes, replies, tokens, the peer port."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import requests
from falcon import inspect
from schemathesis.specs.openapi.schemas import OpenApiSchema

from casserver.app import create_app
from casserver.config import Config
from tests.integration.openapi.conftest import load
from tests.support import ServerProcess
from tests.tier import Tier, running

METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"}


def template(path: str) -> str:
    """Template drops path parameter names, which never reach the wire: /ac/{} for /ac/{x}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def described(schema: OpenApiSchema) -> set[tuple[str, str]]:
    return {(template(op.ok().path), op.ok().method.upper()) for op in schema.get_all_operations()}


def test_every_casserver_route_is_described(cas_schema: OpenApiSchema, tmp_path: Path) -> None:
    app = create_app(Config(storage_dir=tmp_path))
    served = {
        (template(route.path), method.method)
        for route in inspect.inspect_routes(app)
        for method in route.methods
        if method.method in METHODS and not method.internal
    }
    assert served <= described(cas_schema)


def test_live_replies_match_the_spec(
    tier: Tier, cas_schema: OpenApiSchema, cache_schema: OpenApiSchema
) -> None:
    data = os.urandom(3000)
    sha256, sha1 = hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()
    absent = "0" * 64
    cas, cache = tier.origin_url, tier.urls[0]
    exchanges: list[tuple[OpenApiSchema, str, str, Callable[[], requests.Response], int]] = [
        (cas_schema, "/cas/{digest}", "PUT",
         lambda: requests.put(f"{cas}/cas/{sha1}", files={"file": data}, timeout=10), 201),
        (cas_schema, "/cas/{digest}", "PUT",
         lambda: requests.put(f"{cas}/cas/{sha256}", data=data, timeout=10), 200),
        (cas_schema, "/cas/{digest}", "PUT",
         lambda: requests.put(f"{cas}/cas/{absent}", data=data, timeout=10), 400),
        (cas_schema, "/cas", "POST",
         lambda: requests.post(f"{cas}/cas", data=os.urandom(10), timeout=10), 201),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/{sha1}", timeout=10), 200),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/{sha256}", headers={"Range": "bytes=0-9"},
                              timeout=10), 206),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/{sha256}", headers={"Range": "bytes=5000-"},
                              timeout=10), 416),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/{sha256}", headers={"If-None-Match": f'"{sha256}"'},
                              timeout=10), 304),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/{absent}", timeout=10), 404),
        (cas_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cas}/cas/NOT-A-DIGEST", timeout=10), 400),
        (cas_schema, "/cas/{digest}", "HEAD",
         lambda: requests.head(f"{cas}/cas/{sha256}", timeout=10), 200),
        (cas_schema, "/metrics", "GET", lambda: requests.get(f"{cas}/metrics", timeout=10), 200),
        (cas_schema, "/readyz", "GET", lambda: requests.get(f"{cas}/readyz", timeout=10), 200),
        (cache_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cache}/cas/{sha256}", timeout=10), 200),
        (cache_schema, "/cas/{digest}", "GET",
         lambda: requests.get(f"{cache}/cas/{absent}", timeout=10), 404),
        (cache_schema, "/cas/{digest}", "HEAD",
         lambda: requests.head(f"{cache}/cas/{sha1}", timeout=10), 200),
        (cache_schema, "/stats", "GET", lambda: requests.get(f"{cache}/stats", timeout=10), 200),
        (cache_schema, "/healthz", "GET",
         lambda: requests.get(f"{cache}/healthz", timeout=10), 200),
    ]  # fmt: skip
    for schema, path, method, send, status in exchanges:
        resp = send()
        assert resp.status_code == status, (method, resp.url, resp.text[:300])
        schema[path][method].validate_response(resp)


def test_a_write_without_the_token_is_401_as_described(
    casserver: Callable[..., ServerProcess],
) -> None:
    server = casserver(env={"CAS_WRITE_TOKEN": "s3cret", "CAS_READ_TOKEN": "r3ad"})
    schema = load("casserver", server.base_url)
    data = b"token test"
    url = f"{server.base_url}/cas/{hashlib.sha256(data).hexdigest()}"
    for method, resp in (
        ("PUT", requests.put(url, data=data, timeout=10)),
        ("PUT", requests.put(url, data=data, headers={"Authorization": "Bearer no"}, timeout=10)),
        ("GET", requests.get(url, timeout=10)),
    ):
        assert resp.status_code == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
        schema["/cas/{digest}"][method].validate_response(resp)
    stored = requests.put(url, data=data, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert stored.status_code == 201


def test_the_peer_listener_answers_403_without_the_token_and_clients_cannot_reach_it(
    tmp_path: Path,
) -> None:
    env = {"CACHE_PEER_TOKEN": "members-only"}
    with running(Tier(tmp_path, n=2, member_env=env)) as tier:
        assert tier.peer_ports, "no peer listener"
        digest = "0" * 64
        resp = requests.get(f"{tier.peer_urls[0]}/_groupcache/cas/{digest}", timeout=10)
        assert resp.status_code == 403
        load("cacheserver-peer", tier.peer_urls[0])["/_groupcache/cas/{digest}"][
            "GET"
        ].validate_response(resp)
        # The members' background probes: the same token rule.
        health = load("cacheserver-peer", tier.peer_urls[0])["/_groupcache/healthz"]["GET"]
        for headers, status in (({}, 403), ({"Authorization": "Bearer members-only"}, 200)):
            resp = requests.get(f"{tier.peer_urls[0]}/_groupcache/healthz", headers=headers,
                                timeout=10)  # fmt: skip
            assert resp.status_code == status
            health.validate_response(resp)
        # The client port does not serve the peer protocol at all.
        assert requests.get(f"{tier.urls[0]}/_groupcache/cas/{digest}", timeout=10).status_code in (
            403,
            404,
        )
