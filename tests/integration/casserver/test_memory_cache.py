"""Small blobs answered from a worker's memory: the same answer, and gone once the file is."""

from __future__ import annotations

import hashlib
import os

import requests

from tests.integration.casserver.conftest import Server, wait_for


def test_a_cached_blob_answers_as_from_disk_and_goes_with_its_file(shared: Server) -> None:
    data = os.urandom(25_000)
    digest = hashlib.sha256(data).hexdigest()
    url = f"{shared.url}/cas/{digest}"
    assert requests.put(url, data=data, timeout=10).status_code == 201
    answers = []
    with requests.Session() as s:  # keep-alive: one worker, its cache filled then used
        for _ in range(3):
            got = s.get(url, timeout=10)
            answers.append((got.status_code, dict(got.headers), got.content))
            part = s.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
            assert (part.status_code, part.content) == (206, data[100:200])
        for _, headers, _ in answers:
            headers.pop("Date", None)
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][2] == data
        # Removed behind the server's back (an operator pruning the volume): within the
        # recheck time (1 s) no worker answers it any more.
        (shared.storage / "sha256" / digest[:2] / digest).unlink()
        assert wait_for(lambda: s.get(url, timeout=10).status_code == 404, deadline_s=10)
    assert wait_for(lambda: requests.get(url, timeout=10).status_code == 404, deadline_s=10)
