"""Ingest: an upload body becomes a verified, durable blob, or nothing at all."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from cascommon.digest import SHA1, SHA256, Digest
from casserver.blobfile import TempBlob, UnreadableBlob
from casserver.metrics import Metrics
from casserver.recency import Recency
from casserver.storage import BlobStore, StorageFull, StoredFile, storage_error
from casserver.upload import Body, DigestMismatch, UploadError, receive
from casserver.writehealth import WriteHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """Stored is the outcome of an upload: the blob's name, size and whether the name is new."""

    digest: str
    size: int
    created: bool


class Ingest:
    """Ingest streams, verifies and commits uploads into a BlobStore, counting them."""

    def __init__(
        self,
        store: BlobStore,
        metrics: Metrics,
        health: WriteHealth,
        recency: Recency | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._health = health
        self._recency = recency

    def put(self, body: Body, digest: Digest) -> Stored:
        """Put stores body under digest; a blob already there is drained, not rewritten.

        The drained body is still hashed: bytes that do not match their name are refused
        (400) whether or not the name is stored, so a client never learns that a wrong
        upload succeeded.
        """
        stored = self._store.stored(digest)
        if stored is not None and self._recency is not None and not self._store.touch(digest):
            # Touched before the answer, so the evictor keeps it (see eviction); gone
            # already, it is stored anew.
            stored = None
        if stored is not None and stored.intact:
            try:
                self._check(body, digest)
            except UploadError as exc:
                self._metrics.upload_failures.labels(exc.reason).inc()
                raise
            log.info("blob already stored", extra={"digest": digest.hex, "size": stored.size})
            return Stored(digest.hex, stored.size, False)
        # Absent, or a file whose size was not recorded or no longer matches: the body is
        # kept, and commit replaces a file of another size (the blob's other name too).
        return self._store_new(body, digest, repair=stored is not None)

    def _check(self, body: Body, digest: Digest) -> None:
        hasher, received = digest.hasher(), 0
        try:
            for chunk in body.chunks:
                hasher.update(chunk)
                received += len(chunk)
        finally:
            self._metrics.received_bytes.inc(received)
        if hasher.hexdigest() != digest.hex:
            raise DigestMismatch(
                f"body hashes to {digest.algorithm} {hasher.hexdigest()}, not {digest.hex}"
            )

    def post(self, body: Body) -> Stored:
        """Post stores body under the SHA-256 the server computes."""
        return self._store_new(body, None)

    def _store_new(self, body: Body, expected: Digest | None, *, repair: bool = False) -> Stored:
        try:
            stored = self._write(body, expected, repair)
        except StorageFull:
            raise
        except OSError as exc:
            self._health.failed(
                f"storage {self._store.root} is not writable: {exc.strerror or exc}"
            )
            raise
        self._health.ok()
        return stored

    def _write(self, body: Body, expected: Digest | None, repair: bool) -> Stored:
        started = time.perf_counter()
        self._store.reserve(body.expected_bytes)
        # A repair also names the blob's other digest, whose link holds the damaged file too.
        algorithms = (
            {SHA256} | ({expected.algorithm} if expected else set()) | ({SHA1} if repair else set())
        )
        temp = self._store.create_temp()
        try:
            with temp:
                try:
                    received = receive(body, temp, algorithms)
                except OSError as exc:  # writing the temp file: the volume filled up
                    raise storage_error(exc) from exc
                finally:
                    self._metrics.received_bytes.inc(temp.size)
                sha256 = received.hexdigests[SHA256]
                if expected is not None and received.hexdigests[expected.algorithm] != expected.hex:
                    raise DigestMismatch(
                        f"body hashes to {expected.algorithm} "
                        f"{received.hexdigests[expected.algorithm]}, not {expected.hex}"
                    )
                aliases = [expected] if expected is not None and expected.algorithm == SHA1 else []
                # What the SHA-256 name holds now: a repair replaces a blob, it adds none;
                # and one a POST finds damaged takes its SHA-1 link along, as a PUT's does.
                before = self._stored_sha256(sha256)
                repairs = []
                if not aliases and (repair or (before is not None and not before.intact)):
                    sha1 = received.hexdigests.get(SHA1) or _sha1_of(temp)
                    repairs = [Digest(SHA1, sha1)]
                new_names = self._store.commit(temp, sha256, aliases, repairs)
        except UploadError as exc:
            self._metrics.upload_failures.labels(exc.reason).inc()
            raise
        created = (expected.algorithm if expected else SHA256) in new_names
        if SHA256 in new_names and before is not None:  # replaced: a blob's bytes changed
            self._metrics.storage.add(0, received.size - before.size)
        elif SHA256 in new_names:  # a new SHA-1 name for a stored blob adds no bytes
            self._metrics.blobs_stored.inc()
            self._metrics.storage.add(1, received.size)
            if self._recency is not None:
                self._recency.stored(f"{SHA256}/{sha256[:2]}/{sha256}", received.size)
        name = expected.hex if expected else sha256
        log.info(
            "blob stored" if created else "blob already stored",
            extra={
                "digest": name,
                "sha256": sha256,
                "size": received.size,
                "new": created,
                "duration_s": round(time.perf_counter() - started, 6),
            },
        )
        return Stored(name, received.size, created)

    def _stored_sha256(self, sha256: str) -> StoredFile | None:
        try:
            return self._store.stored(Digest(SHA256, sha256))
        except UnreadableBlob:
            return StoredFile(0, True)  # there, but not ours to judge: commit keeps it


def _sha1_of(temp: TempBlob) -> str:
    """The SHA-1 of a temp file's bytes: read again, only for the rare repair by POST."""
    hasher = hashlib.sha1()
    with open(temp.path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()
