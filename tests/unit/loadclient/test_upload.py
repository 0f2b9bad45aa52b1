"""Uploads of many fresh blobs stop at the first failure or interruption (Ctrl-C)."""

from __future__ import annotations

import threading
import time

import pytest

import loadclient.upload as upload_module
from loadclient.targets import Blob
from loadclient.upload import upload_all


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_one_failure_stops_the_other_uploads(
    monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    made: list[int] = []
    lock = threading.Lock()

    def fake_upload(session: object, cas_url: str, blob: Blob, timeout_s: float) -> int:
        time.sleep(0.001)
        return 201

    def make(i: int) -> Blob:
        with lock:
            made.append(i)
        if i == 3:  # the first blob of the fourth thread
            raise error("boom")
        return Blob.of(b"%d" % i)

    monkeypatch.setattr(upload_module, "upload", fake_upload)
    with pytest.raises(error):
        upload_all("http://127.0.0.1:1", 4000, make, 1.0)
    assert len(made) < 200, len(made)  # not the other threads' thousands
