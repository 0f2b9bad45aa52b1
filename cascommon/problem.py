"""RFC 9457 problem+json errors for every service.

Falcon's own errors (404 for an unknown route, 405 for a wrong method, 400s raised
by resources) are serialized here, and any unexpected exception becomes a bare 500
with the traceback in the log, never in the body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, title: str, detail: str | None = None) -> bytes:
    """Problem_body renders a problem+json document."""
    doc: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        doc["detail"] = detail
    return json.dumps(doc).encode()


def _serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    resp.content_type = PROBLEM_JSON
    resp.data = problem_body(exc.status_code, exc.title or "Error", exc.description)
    resp.append_header("Vary", "Accept")


def _unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception(
        "unhandled error", extra={"method": req.method, "route": req.uri_template or "unknown"}
    )
    raise falcon.HTTPInternalServerError(description="unexpected server error") from ex


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Install makes app answer every error as problem+json."""
    app.set_error_serializer(_serialize)
    app.add_error_handler(Exception, _unexpected)
