"""The one place domain errors become HTTP problem+json answers, each logged once."""

from __future__ import annotations

import logging
from typing import Any, Final

import falcon

from cascommon.digest import InvalidDigest
from cascommon.ranges import RangeNotSatisfiable
from casserver.blobfile import UnreadableBlob
from casserver.blobsize import DamagedBlob
from casserver.slots import TooManyUploads
from casserver.storage import StorageFull
from casserver.upload import (
    BodyTooLarge,
    BodyTooSlow,
    DigestMismatch,
    LengthRequired,
    MalformedBody,
    TruncatedBody,
    UploadError,
)

log = logging.getLogger(__name__)

# Domain error type -> (HTTP status, problem title).
STATUS: Final[dict[type[Exception], tuple[int, str]]] = {
    InvalidDigest: (400, "Invalid digest"),
    LengthRequired: (411, "Length required"),
    BodyTooLarge: (413, "Blob too large"),
    MalformedBody: (400, "Malformed upload body"),
    TruncatedBody: (400, "Truncated upload body"),
    BodyTooSlow: (408, "Upload too slow"),
    DigestMismatch: (400, "Digest mismatch"),
    UploadError: (400, "Invalid upload"),
    StorageFull: (507, "Insufficient storage"),
    RangeNotSatisfiable: (416, "Range not satisfiable"),
    TooManyUploads: (503, "Too many uploads"),
    DamagedBlob: (500, "Stored blob damaged"),
    UnreadableBlob: (500, "Stored blob unreadable"),
}


def to_http_error(exc: Exception) -> falcon.HTTPError:
    """To_http_error maps a domain error to the HTTPError that answers it."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            status, title = STATUS[cls]
            break
    else:
        raise TypeError(f"no HTTP mapping for {type(exc).__name__}")
    headers = {}
    if isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, TooManyUploads):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, BodyTooSlow):
        headers["Connection"] = "close"  # the rest of the body will not be read
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return falcon.HTTPError(status, title=title, description=detail, headers=headers or None)


def _handle_domain(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    error = to_http_error(ex)
    _log(req, error)
    raise error from ex


def _handle_http(
    req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any
) -> None:
    _log(req, ex)
    raise ex


def _log(req: falcon.Request, error: falcon.HTTPError) -> None:
    # Resources leave what they know (digest, bytes received) in req.context.log_extra.
    extra = {
        "method": req.method,
        "route": req.uri_template or "unmatched",
        "status": error.status_code,
        "title": error.title,
        "detail": error.description,
        **getattr(req.context, "log_extra", {}),
    }
    log.log(
        logging.ERROR if error.status_code >= 500 else logging.INFO, "request failed", extra=extra
    )


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Install maps domain errors to problem+json and logs every error answer once."""
    for cls in STATUS:
        app.add_error_handler(cls, _handle_domain)
    app.add_error_handler(falcon.HTTPError, _handle_http)
