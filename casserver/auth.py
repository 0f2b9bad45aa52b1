"""Optional bearer tokens: CAS_WRITE_TOKEN guards uploads, CAS_READ_TOKEN guards reads.

Only the data routes are guarded; /healthz, /readyz and /metrics stay open for probes
and scrapers. The write token also grants reads, so a build tool that sends one header
(Bazel's ``--remote_header``) can both read and write. Tokens are compared in constant
time and never logged or echoed.
"""

from __future__ import annotations

import hmac
from collections.abc import Set
from typing import Any, Final

import falcon

CHALLENGE: Final = 'Bearer realm="cas"'
_WRITES: Final = frozenset({"PUT", "POST", "DELETE", "PATCH"})


def bearer(authorization: str | None) -> bytes | None:
    """Bearer returns the token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode()


class Tokens:
    """Tokens decides whether a request's Authorization header may read or write."""

    def __init__(self, write_token: str | None, read_token: str | None) -> None:
        self._write = write_token.encode() if write_token else None
        self._read = read_token.encode() if read_token else None

    @property
    def enabled(self) -> bool:
        """Enabled is true when any token is set."""
        return self._write is not None or self._read is not None

    @property
    def guards_reads(self) -> bool:
        """Guards_reads is true when reads need a token."""
        return self._read is not None

    def allows(self, method: str, authorization: str | None) -> bool:
        """Allows reports whether a request with this method and header may proceed."""
        write = method in _WRITES
        if (self._write if write else self._read) is None:
            return True
        token = bearer(authorization)
        if token is None:
            return False
        # Both comparisons always run, so timing tells nothing about which one matched.
        matches_write = _same(token, self._write)
        matches_read = _same(token, self._read)
        return matches_write or (not write and matches_read)


def _same(token: bytes, expected: bytes | None) -> bool:
    return expected is not None and hmac.compare_digest(token, expected)


class TokenAuth:
    """TokenAuth is Falcon middleware answering 401 on guarded routes without a valid token."""

    def __init__(self, tokens: Tokens, guarded_routes: Set[str]) -> None:
        self._tokens = tokens
        self._guarded = guarded_routes

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: Any
    ) -> None:
        # After routing, before the responder reads any body byte.
        if req.uri_template not in self._guarded:
            return
        if not self._tokens.allows(req.method, req.get_header("Authorization")):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized",
                description="a valid 'Authorization: Bearer <token>' header is required",
                challenges=[CHALLENGE],
            )
