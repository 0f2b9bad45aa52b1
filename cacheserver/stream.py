"""A blob too large to cache, passed from the origin or its owner to the client in chunks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from cacheserver.errors import CorruptBlob
from cacheserver.lengths import Oversize, check_length
from cascommon.digest import Digest


class Chunks(Protocol):
    """Chunks is an open body (upstream.Body): its length if known, its chunks, close()."""

    length: int | None

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class BlobStream:
    """BlobStream yields an upstream body's chunks while hashing it.

    The last chunk is held back until the whole body hashes to the digest (and is as
    long as declared): on a mismatch the stream raises instead, the server cuts the
    connection short of its length (or of the last chunk), and the client never holds
    a complete wrong answer. A declared length that cannot be the blob's (see
    lengths.check_length against probe, what source said before) raises WrongLength
    here, before any header is sent, and closes the body.
    """

    def __init__(
        self,
        body: Chunks,
        digest: Digest,
        on_corrupt: Callable[[CorruptBlob], None] | None = None,
        *,
        source: str = "",
        probe: Oversize | None = None,
    ) -> None:
        try:
            check_length(digest, body.length, source, probe)
        except CorruptBlob as ex:
            body.close()
            if on_corrupt is not None:
                on_corrupt(ex)
            raise
        self.length = body.length
        self._body = body
        self._digest = digest
        self._on_corrupt = on_corrupt
        self._on_close: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._closed = False

    def on_close(self, callback: Callable[[], None]) -> None:
        """On_close runs callback once when the stream is closed (finished or abandoned)."""
        self._on_close.append(callback)

    def __iter__(self) -> Iterator[bytes]:
        hasher = self._digest.hasher()
        held: bytes | None = None
        size = 0
        for chunk in self._body:
            hasher.update(chunk)
            size += len(chunk)
            if held is not None:
                yield held
            held = chunk
        if hasher.hexdigest() != self._digest.hex or size != (self.length or size):
            ex = CorruptBlob(f"{size} streamed bytes are not the blob {self._digest.hex}")
            if self._on_corrupt is not None:
                self._on_corrupt(ex)
            raise ex
        if held is not None:
            yield held

    def close(self) -> None:
        """Close releases the upstream connection and runs the on_close callbacks once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._body.close()
        for callback in self._on_close:
            callback()
