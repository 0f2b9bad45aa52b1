"""Uploads: the multipart PUT the Go client made, checked, before the attack starts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from loadclient.targets import Blob

OK_STATUSES = (200, 201)


class UploadError(RuntimeError):
    """UploadError is a blob casserver did not accept (or casserver could not be reached)."""


def _reason(exc: BaseException) -> str:
    """Return the innermost OS error's words (e.g. "Connection refused"), not urllib3's prose."""
    seen: list[BaseException] = [exc]
    for _ in range(50):  # chains are short; a cycle must not hang the error path
        if not seen:
            break
        e = seen.pop()
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        seen += [a for a in e.args if isinstance(a, BaseException)]
        seen += [
            c for c in (e.__cause__, e.__context__, getattr(e, "reason", None)) if c is not None
        ]
    return type(exc).__name__


def upload(session: requests.Session, cas_url: str, blob: Blob, timeout_s: float) -> int:
    """Upload PUTs blob as multipart part "file" to /cas/{digest}; it returns 200 or 201.

    The session carries the write token, if any (upload_all sets it).
    """
    url = cas_url.rstrip("/") + blob.path
    files = {"file": (blob.digest, blob.data, "application/octet-stream")}
    try:
        resp = session.put(url, files=files, timeout=timeout_s)
    except requests.Timeout as exc:
        raise UploadError(f"upload failed: PUT {url}: no answer within {timeout_s:g} s") from exc
    except requests.RequestException as exc:
        raise UploadError(
            f"upload failed: PUT {url}: cannot reach casserver: {_reason(exc)}"
        ) from exc
    if resp.status_code == 401:
        sent = "Authorization" in session.headers
        raise UploadError(
            f"upload failed: PUT {url} answered 401: casserver "
            + ("refused the write token" if sent else "wants a write token: pass --token or "
               "--token-file, or set CAS_WRITE_TOKEN or CAS_WRITE_TOKEN_FILE")
        )  # fmt: skip
    if resp.status_code not in OK_STATUSES:
        detail = resp.text[:300].strip()
        raise UploadError(
            f"upload failed: PUT {url} answered {resp.status_code} {resp.reason}"
            + (f": {detail}" if detail else "")
        )
    return resp.status_code


def upload_all(
    cas_url: str,
    count: int,
    make: Callable[[int], Blob],
    timeout_s: float,
    threads: int = 8,
    done: Callable[[Blob], None] | None = None,
    token: str | None = None,
) -> list[str]:
    """Upload_all uploads make(0), ..., make(count-1) in parallel and returns their digests.

    Blobs are made where they are uploaded and dropped after, so a long run's thousands of
    fresh blobs never sit in memory together. The first failure is raised.
    """
    digests = [""] * count
    stop = threading.Event()  # set by the first failure or Ctrl-C: the other threads quit

    def one_session(indices: range) -> None:
        with requests.Session() as s:
            if token:
                s.headers["Authorization"] = f"Bearer {token}"
            for i in indices:
                if stop.is_set():
                    return
                try:
                    blob = make(i)
                    upload(s, cas_url, blob, timeout_s)
                except BaseException:
                    stop.set()
                    raise
                digests[i] = blob.digest
                if done is not None:
                    done(blob)

    chunks = [range(i, count, threads) for i in range(min(threads, count))]
    with ThreadPoolExecutor(max_workers=max(1, len(chunks))) as pool:
        try:
            for _ in pool.map(one_session, chunks):
                pass
        except BaseException:  # leaving the block waits for every thread: make that quick
            stop.set()
            raise
    return digests
