"""Verify's quarantine moves the damaged file it hashed, never a repair that landed meanwhile."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from casserver.verify import Pacer, Verifier

GOOD = b"the right bytes" * 100
NAME = hashlib.sha256(GOOD).hexdigest()


def test_a_repair_landing_just_before_the_move_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = tmp_path / "sha256" / NAME[:2] / NAME
    blob.parent.mkdir(parents=True)
    blob.write_bytes(GOOD[:100])  # damaged: truncated
    repair = tmp_path / "repair"
    repair.write_bytes(GOOD)
    rename = os.rename

    def repair_then_rename(src: str | Path, dst: str | Path) -> None:
        # A verified re-upload replaces the damaged file after verify hashed and
        # checked it, just before verify's rename: the race a check cannot close.
        if Path(src) == blob and repair.exists():
            os.replace(repair, blob)
        rename(src, dst)

    monkeypatch.setattr(os, "rename", repair_then_rename)
    summary = Verifier(tmp_path, Pacer(None), None).run()
    assert summary.damaged == []
    assert blob.read_bytes() == GOOD
    assert list((tmp_path / "quarantine" / "sha256").iterdir()) == []


def test_the_damaged_file_hashed_is_moved(tmp_path: Path) -> None:
    blob = tmp_path / "sha256" / NAME[:2] / NAME
    blob.parent.mkdir(parents=True)
    blob.write_bytes(GOOD[:100])
    summary = Verifier(tmp_path, Pacer(None), None).run()
    assert summary.damaged == [f"sha256:{NAME}"]
    assert not blob.exists()
    assert (tmp_path / "quarantine" / "sha256" / NAME).read_bytes() == GOOD[:100]
