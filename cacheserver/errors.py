"""Errors a cache fill can end in, mapped to HTTP statuses in one table (STATUS).

LoadError (Exception)
├── NotFound (+ LookupError)       404: the origin, or the key's owner, has no such blob
├── Unavailable                    502: the origin or a peer failed or refused to answer
│   ├── UpstreamTimeout (+ TimeoutError)
│   │                              504: no answer within the configured time
│   ├── Busy                       503: the origin or a peer said it is overloaded (503)
│   └── OriginFailed               502: the key's owner says the origin failed (not the owner)
│       └── OriginTimedOut (+ TimeoutError)
│                                  504: the owner says the origin did not answer in time
├── CorruptBlob (+ ValueError)     502: the bytes do not hash to the key; never cached
│   └── WrongLength                502: the declared length cannot be the key's blob's
├── TooLarge (+ ValueError)        502: the upstream body is over CACHE_MAX_BLOB_BYTES
└── Overloaded                     503: too many requests wait already; retry after a second
"""

from __future__ import annotations

from typing import Final


class LoadError(Exception):
    """LoadError is the root of every error a cache fill can end in."""


class NotFound(LoadError, LookupError):
    """NotFound means the origin (or the key's owner) does not hold the blob."""


class Unavailable(LoadError):
    """Unavailable means the origin or a peer could not be reached or answered an error."""


class UpstreamTimeout(Unavailable, TimeoutError):
    """UpstreamTimeout means no answer came within the configured time."""


class Busy(Unavailable):
    """Busy means the origin or a peer answered 503: alive, but refusing work for now."""


class OriginFailed(Unavailable):
    """OriginFailed means the key's owner answered that its origin load failed."""


class OriginTimedOut(OriginFailed, TimeoutError):
    """OriginTimedOut means the key's owner answered that the origin did not answer in time."""


class CorruptBlob(LoadError, ValueError):
    """CorruptBlob means the bytes received do not hash to the requested digest."""


class WrongLength(CorruptBlob):
    """WrongLength means an upstream declared a length the blob cannot have; nothing was sent."""


class TooLarge(LoadError, ValueError):
    """TooLarge means an upstream body went over the blob size limit."""


class Overloaded(LoadError):
    """Overloaded means too many requests already wait; the caller should retry later."""


RETRY_AFTER_S: Final = 1

# The first entry whose class the error is an instance of gives the status and detail;
# subclasses come before their bases.
STATUS: Final[tuple[tuple[type[LoadError], int, str], ...]] = (
    (NotFound, 404, "no blob with this digest"),
    (Overloaded, 503, "too many requests are waiting for fills; retry shortly"),
    (Busy, 503, "the origin is overloaded; retry shortly"),
    (OriginTimedOut, 504, "the origin did not answer the key's owner in time"),
    (OriginFailed, 502, "the origin is unavailable to the key's owner"),
    (UpstreamTimeout, 504, "the origin did not answer in time"),
    (WrongLength, 502, "the origin sent a length the blob cannot have"),
    (CorruptBlob, 502, "the origin sent bytes that do not match"),
    (TooLarge, 502, "the blob is larger than this cache serves"),
    (Unavailable, 502, "the origin is unavailable"),
)


def status_of(ex: LoadError) -> tuple[int, str]:
    """Status_of returns the HTTP status and detail an error is answered with."""
    for cls, status, detail in STATUS:
        if isinstance(ex, cls):
            return status, detail
    return 502, "the blob could not be loaded"
