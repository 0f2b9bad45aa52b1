"""``casserver verify`` finds every damaged blob in a store and touches nothing else."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

from tests.support import PYTHON

BLOBS = 10_000


def put(storage: Path, algorithm: str, name: str, data: bytes | None = None) -> Path:
    path = storage / algorithm / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        path.write_bytes(data)
    return path


def verify(storage: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = [PYTHON, "-m", "casserver", "verify", "--storage", str(storage), *flags]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_verify_quarantines_exactly_the_damaged_blobs(tmp_path: Path) -> None:
    storage = tmp_path / "cas-data"
    rng = random.Random(17)
    blobs: dict[str, bytes] = {}
    for i in range(BLOBS):
        data = rng.randbytes(100 + i % 100)
        name = hashlib.sha256(data).hexdigest()
        blobs[name] = data
        put(storage, "sha256", name, data)
    names = sorted(blobs)
    damaged = names[:10]
    for i, name in enumerate(damaged):
        path = put(storage, "sha256", name)
        if i < 4:
            os.truncate(path, 50)
        elif i < 7:  # overwritten with other bytes of the same size
            path.write_bytes(rng.randbytes(len(blobs[name])))
        else:  # one bit flipped
            data = bytearray(blobs[name])
            data[i] ^= 1 << (i % 8)
            path.write_bytes(bytes(data))
    # SHA-1 links: one of a damaged blob (quarantined with it), one of a good one (kept).
    for name in (damaged[0], names[-1]):
        os.link(put(storage, "sha256", name), put(storage, "sha1", _sha1(blobs[name])))

    done = verify(storage, "--offline")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()[1:]
    assert set(lines) == {f"damaged: sha256:{n}" for n in damaged} | {
        f"moved with it: sha1:{_sha1(blobs[damaged[0]])}"
    }
    assert f"verified {BLOBS} blobs" in done.stdout and "10 damaged" in done.stdout
    quarantined = {p.name for p in (storage / "quarantine").rglob("*") if p.is_file()}
    assert quarantined == set(damaged) | {_sha1(blobs[damaged[0]])}
    for name in names[10:]:  # the good ones: where they were, as they were
        assert put(storage, "sha256", name).read_bytes() == blobs[name]
    assert put(storage, "sha1", _sha1(blobs[names[-1]])).read_bytes() == blobs[names[-1]]
    # Their sizes are recorded now, so every serve checks them.
    assert (
        os.getxattr(put(storage, "sha256", names[-1]), "user.cas.size")
        == str(len(blobs[names[-1]])).encode()
    )

    again = verify(storage)  # online (paced): nothing left to find
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"verified {BLOBS - 10} blobs" in again.stdout and " 0 damaged" in again.stdout


def test_verify_refuses_a_path_that_is_no_store(tmp_path: Path) -> None:
    done = verify(tmp_path / "nothing")
    assert done.returncode == 2
    assert (
        done.stderr.startswith("casserver: unusable storage path")
        and "Traceback" not in done.stderr
    )


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
