"""Uploads: the multipart PUT the Go client made, checked, before the attack starts."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

from loadclient.targets import Blob

OK_STATUSES = (200, 201)


class UploadError(RuntimeError):
    """UploadError is a blob casserver did not accept (or casserver could not be reached)."""


def upload(session: requests.Session, cas_url: str, blob: Blob, timeout_s: float) -> int:
    """Upload PUTs blob as multipart part "file" to /cas/{digest}; it returns 200 or 201."""
    url = cas_url.rstrip("/") + blob.path
    files = {"file": (blob.digest, blob.data, "application/octet-stream")}
    try:
        resp = session.put(url, files=files, timeout=timeout_s)
    except requests.RequestException as exc:
        raise UploadError(f"upload failed: PUT {url}: cannot reach casserver: {exc}") from exc
    if resp.status_code not in OK_STATUSES:
        detail = resp.text[:300].strip()
        raise UploadError(
            f"upload failed: PUT {url} answered {resp.status_code} {resp.reason}"
            + (f": {detail}" if detail else "")
        )
    return resp.status_code


def upload_all(
    cas_url: str, blobs: Sequence[Blob], timeout_s: float, threads: int = 8
) -> list[int]:
    """Upload_all uploads blobs in parallel; the first failure is raised."""
    if not blobs:
        return []
    with requests.Session() as first:
        statuses = [upload(first, cas_url, blobs[0], timeout_s)]
    rest = blobs[1:]
    chunks = [rest[i::threads] for i in range(threads) if rest[i::threads]]

    def one_session(chunk: Sequence[Blob]) -> list[int]:
        with requests.Session() as s:
            return [upload(s, cas_url, blob, timeout_s) for blob in chunk]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done in pool.map(one_session, chunks):
            statuses.extend(done)
    return statuses
