"""What loadclient says when its input or its casserver is wrong: one short line."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from loadclient.cli import main
from loadclient.targets import Blob
from loadclient.upload import UploadError, upload
from procharness import free_port


def test_merge_of_a_file_that_is_not_json_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a report\n")
    assert main(["merge", str(notes)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"loadclient merge: {notes}: not a loadclient JSON report")
    assert err.count("\n") == 1


def test_an_unreachable_casserver_is_one_short_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with requests.Session() as session, pytest.raises(UploadError) as caught:
        upload(session, url, Blob.of(b"x"), timeout_s=5)
    message = str(caught.value)
    assert message.endswith("cannot reach casserver: Connection refused")
    assert len(message) < 200 and "\n" not in message
