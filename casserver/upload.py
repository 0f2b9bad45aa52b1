"""Upload bodies: a raw body or one multipart ``file`` part, streamed into a temp file.

Errors form one small tree, mapped to HTTP statuses in ``errors``::

    UploadError (ValueError)
    ├── LengthRequired     411: multipart without Content-Length
    ├── BodyTooLarge       413: over the blob size limit
    ├── MalformedBody      400: bad multipart, no ``file`` part or several
    ├── TruncatedBody      400: fewer bytes than announced, or a broken chunked body
    ├── BodyTooSlow        408: the body's average rate stayed under the minimum
    └── DigestMismatch     400: the bytes do not hash to the name they were sent to
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

import falcon
from falcon.media.multipart import MultipartFormHandler

from casserver.blobfile import TempBlob

CHUNK_BYTES: Final = 1 << 20
# Room for multipart boundaries and part headers around the blob itself.
MULTIPART_OVERHEAD_BYTES: Final = 64 * 1024

_MULTIPART: Final = MultipartFormHandler()


class UploadError(ValueError):
    """UploadError is the base of every reason an upload body is refused."""

    reason = "malformed"


class LengthRequired(UploadError):
    """LengthRequired is raised for a multipart body without Content-Length."""

    reason = "length_required"


class BodyTooLarge(UploadError):
    """BodyTooLarge is raised when a blob is, or turns out to be, over the size limit."""

    reason = "too_large"


class MalformedBody(UploadError):
    """MalformedBody is raised for a multipart body that is not one ``file`` part."""


class TruncatedBody(UploadError):
    """TruncatedBody is raised when the body ends before its announced length."""

    reason = "truncated"


class BodyTooSlow(UploadError):
    """BodyTooSlow is raised when an upload arrives slower than the minimum average rate."""

    reason = "too_slow"


class DigestMismatch(UploadError):
    """DigestMismatch is raised when the received bytes hash to another digest."""

    reason = "digest_mismatch"


@dataclass(slots=True)
class Body:
    """Body is an upload's blob bytes as chunks; expected_bytes is a size hint for space."""

    chunks: Iterator[bytes]
    expected_bytes: int


@dataclass(frozen=True, slots=True)
class Received:
    """Received describes a blob written to a temp file: its size and hex digests."""

    size: int
    hexdigests: dict[str, str]


def open_body(req: falcon.Request, max_bytes: int, timeout_s: float | None = None) -> Body:
    """Open_body checks an upload's headers and returns its blob bytes as a stream.

    Header problems (411, 413) are raised here, before any byte is read. Under
    gunicorn, a read that waits longer than timeout_s ends the upload as truncated (under
    granian the RSGI front's ``BodyReader`` applies it, and the minimum rate).
    """
    sock = req.env.get("gunicorn.socket")
    if timeout_s is not None and sock is not None:
        # gthread makes the socket blocking without a timeout for the request, and
        # non-blocking again once the connection goes back to its poller.
        sock.settimeout(timeout_s)
    length = req.content_length
    multipart = req.content_type is not None and req.content_type.lower().startswith(
        "multipart/form-data"
    )
    if multipart and length is None:
        raise LengthRequired("a multipart upload needs a Content-Length")
    limit = max_bytes + (MULTIPART_OVERHEAD_BYTES if multipart else 0)
    if length is not None and length > limit:
        raise BodyTooLarge(f"body of {length} bytes is over the {max_bytes}-byte limit")
    if length is None and not req.env.get("wsgi.input_terminated"):
        length = 0  # no length, no chunking: HTTP/1.1 says the body is empty

    chunks = _multipart_chunks(req, length or 0) if multipart else _raw_chunks(req, length)
    return Body(_limited(chunks, max_bytes), length or 0)


def receive(body: Body, temp: TempBlob, algorithms: Iterable[str]) -> Received:
    """Receive writes body into temp while hashing it with each algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    for chunk in body.chunks:
        for h in hashers.values():
            h.update(chunk)
        temp.write(chunk)
    return Received(temp.size, {name: h.hexdigest() for name, h in hashers.items()})


def _limited(chunks: Iterator[bytes], max_bytes: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise BodyTooLarge(f"blob is over the {max_bytes}-byte limit")
        yield chunk


def _raw_chunks(req: falcon.Request, length: int | None) -> Iterator[bytes]:
    # Chunked bodies (no length) are read to their end; gunicorn marks them terminated.
    stream = req.bounded_stream if length is not None else req.stream
    remaining = length
    while remaining is None or remaining > 0:
        want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
        try:
            chunk = stream.read(want)
        except UploadError:
            raise  # the server's body reader already knows why (too slow, stalled)
        except Exception as exc:  # the server's reader: broken chunking, reset socket
            raise TruncatedBody(f"request body could not be read: {exc}") from exc
        if not chunk:
            if remaining is not None:
                raise TruncatedBody(f"request body ended {remaining} bytes short")
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _multipart_chunks(req: falcon.Request, length: int) -> Iterator[bytes]:
    try:
        form = _MULTIPART.deserialize(req.stream, req.content_type, length)
        found = False
        for part in form:
            if part.name != "file":
                continue  # other fields are skipped unread
            if found:
                raise MalformedBody("multipart body has more than one 'file' part")
            found = True
            while chunk := part.stream.read(CHUNK_BYTES):
                yield chunk
    except (falcon.MediaMalformedError, falcon.HTTPInvalidHeader) as exc:
        raise MalformedBody(f"malformed multipart body: {exc.description}") from exc
    except UploadError:
        raise
    except OSError as exc:
        raise TruncatedBody(f"request body could not be read: {exc}") from exc
    if not found:
        raise MalformedBody("multipart body has no part named 'file'")
