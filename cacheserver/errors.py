"""Errors a cache fill can end in, mapped to HTTP statuses in one place (app.py).

LoadError (Exception)
├── NotFound (+ LookupError)       404: the origin, or the key's owner, has no such blob
├── Unavailable                    502: the origin or a peer failed or refused to answer
│   └── UpstreamTimeout (+ TimeoutError)
│                                  504: no answer within the configured time
└── CorruptBlob (+ ValueError)     502: the bytes do not hash to the key; never cached
"""

from __future__ import annotations


class LoadError(Exception):
    """LoadError is the root of every error a cache fill can end in."""


class NotFound(LoadError, LookupError):
    """NotFound means the origin (or the key's owner) does not hold the blob."""


class Unavailable(LoadError):
    """Unavailable means the origin or a peer could not be reached or answered an error."""


class UpstreamTimeout(Unavailable, TimeoutError):
    """UpstreamTimeout means no answer came within the configured time."""


class CorruptBlob(LoadError, ValueError):
    """CorruptBlob means the bytes received do not hash to the requested digest."""
