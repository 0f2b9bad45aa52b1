"""``casserver verify``: hash every stored blob, and move the damaged ones to ``quarantine/``.

A serve checks a blob's size (``blobsize``) and what enters memory is hashed, but a
same-size change inside a big file that granian sends itself can only be found by
hashing the whole file: this is that check. It runs beside live servers (online, the
default: reads paced by ``--rate-mbps`` so serving keeps the disk) or alone
(``--offline``: as fast as the disk and one core go), from any replica on a shared volume.

A damaged file is renamed to ``<store>/quarantine/<algorithm>/<hex>``, its SHA-1 links
with it, so it is answered 404 (and a client's re-upload stores it anew) rather than
500; nothing is deleted. A file replaced meanwhile (a repair by upload) is left alone.
Good files committed before sizes were recorded, or whose recorded size is wrong, get
theirs (``blobsize.record``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from cascommon.digest import SHA1, SHA256
from casserver import blobsize

QUARANTINE_DIR: Final = "quarantine"
CHUNK_BYTES: Final = 1 << 20
MB: Final = 1_000_000


@dataclass(slots=True)
class Summary:
    """Summary is what a run found: blobs and bytes hashed, and the names it quarantined."""

    blobs: int = 0
    bytes: int = 0
    damaged: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # SHA-1 names moved with a damaged file
    unreadable: list[str] = field(default_factory=list)
    recorded: int = 0
    seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        """Mb_per_s is the hashing throughput in MB/s (10^6 bytes)."""
        return self.bytes / MB / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """Line is the one-line summary a run prints."""
        return (
            f"verified {self.blobs} blobs, {self.bytes / MB:.1f} MB in {self.seconds:.1f} s "
            f"({self.mb_per_s:.0f} MB/s): {len(self.damaged)} damaged (moved to "
            f"{QUARANTINE_DIR}/ with {len(self.links)} SHA-1 links), "
            f"{len(self.unreadable)} unreadable, "
            f"{self.recorded} sizes recorded"
        )


class Pacer:
    """Pacer sleeps so that bytes read stay under rate_bps on average (None: no limit)."""

    def __init__(
        self,
        rate_bps: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate_bps
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._bytes = 0

    def add(self, nbytes: int) -> None:
        """Add counts nbytes read and waits until the average is back under the rate."""
        self._bytes += nbytes
        if self._rate:
            ahead_s = self._bytes / self._rate - (self._clock() - self._start)
            if ahead_s > 0:
                self._sleep(ahead_s)


class Verifier:
    """Verifier hashes every blob under root, quarantining those that do not hash to their name."""

    def __init__(self, root: Path, pacer: Pacer, progress: TextIO | None, every_s: float = 10.0):
        self.root = root
        self._pacer = pacer
        self._progress = progress
        self._every_s = every_s
        self._buffer = bytearray(CHUNK_BYTES)
        self.summary = Summary()

    def run(self) -> Summary:
        """Run verifies the whole store and returns the summary."""
        started = last = time.monotonic()
        links = self._sha1_links()
        for path in _files(self.root / SHA256):
            self._verify(path, SHA256, links)
            if self._progress is not None and time.monotonic() - last >= self._every_s:
                last = time.monotonic()
                self.summary.seconds = last - started
                print(self.summary.line(), file=self._progress, flush=True)
        for paths in links.values():  # SHA-1 names whose SHA-256 file is gone
            for path in paths:
                self._verify(path, SHA1, {})
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _sha1_links(self) -> dict[int, list[Path]]:
        links: dict[int, list[Path]] = {}
        for path in _files(self.root / SHA1):
            try:
                links.setdefault(os.stat(path).st_ino, []).append(path)
            except FileNotFoundError:
                pass
        return links

    def _verify(self, path: Path, algorithm: str, links: dict[int, list[Path]]) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return  # removed meanwhile
        except OSError:
            self.summary.unreadable.append(f"{algorithm}:{path.name}")
            return
        try:
            st = os.fstat(fd)
            aliases = links.pop(st.st_ino, [])
            hashers = {algorithm: hashlib.new(algorithm)}
            if aliases:
                hashers[SHA1] = hashlib.new(SHA1)
            size = self._hash(fd, hashers.values())
            good = hashers[algorithm].hexdigest() == path.name
            # Good bytes whose recorded size is missing or wrong (every serve would refuse
            # them) get the right one.
            if good and blobsize.recorded(fd) != size:
                self.summary.recorded += blobsize.record(fd, size)
        except OSError:
            self.summary.unreadable.append(f"{algorithm}:{path.name}")
            return
        finally:
            os.close(fd)
        self.summary.blobs += 1
        self.summary.bytes += size
        if not good and self._quarantine(path, algorithm, st):
            self.summary.damaged.append(f"{algorithm}:{path.name}")
        for alias in aliases:
            if good and hashers[SHA1].hexdigest() == alias.name:
                continue
            if self._quarantine(alias, SHA1, st):
                # A link to a damaged file goes with it; one naming other bytes is damage.
                (self.summary.links if not good else self.summary.damaged).append(
                    f"{SHA1}:{alias.name}"
                )

    def _hash(self, fd: int, hashers: Iterable[Any]) -> int:
        view, size = memoryview(self._buffer), 0
        while n := os.readv(fd, [self._buffer]):
            for h in hashers:
                h.update(view[:n])
            size += n
            self._pacer.add(n)
        return size

    def _quarantine(self, path: Path, algorithm: str, hashed: os.stat_result) -> bool:
        target_dir = self.root / QUARANTINE_DIR / algorithm
        target_dir.mkdir(parents=True, exist_ok=True)
        target, n = target_dir / path.name, 0
        while target.exists():
            n += 1
            target = target_dir / f"{path.name}.{n}"
        return move_aside(path, target, hashed)


def move_aside(path: Path, target: Path, hashed: os.stat_result) -> bool:
    """Move path to target if it is still the file hashed; False (and path kept) if not.

    A check before the rename would leave a window: a verified re-upload (a repair)
    landing between the check and the rename would be quarantined in the damaged
    file's place. So the file is moved first and compared after; one that is not the
    file hashed goes back under its name (by link: a newer one there is kept).
    """
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return False  # removed meanwhile (evicted, or quarantined by another run)
    if os.path.samestat(os.lstat(target), hashed):
        return True
    try:
        os.link(target, path, follow_symlinks=False)
    except FileExistsError:
        pass  # yet another upload put the blob back meanwhile: it stands
    os.unlink(target)
    return False


def _files(directory: Path) -> list[Path]:
    found: list[Path] = []
    try:
        fanouts = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return found
    for fanout in fanouts:
        if fanout.is_dir(follow_symlinks=False):
            found.extend(Path(e.path) for e in os.scandir(fanout.path) if e.is_file())
    return found


def run(root: Path, rate_mbps: float | None, out: TextIO = sys.stdout) -> int:
    """Run verifies the store at root and prints progress and a summary; 1 if any was damaged."""
    pacer = Pacer(rate_mbps * MB if rate_mbps else None)
    summary = Verifier(root, pacer, sys.stderr).run()
    print(summary.line(), file=out)
    for name in summary.damaged:
        print(f"damaged: {name}", file=out)
    for name in summary.links:
        print(f"moved with it: {name}", file=out)
    for name in summary.unreadable:
        print(f"unreadable: {name}", file=out)
    return 1 if summary.damaged or summary.unreadable else 0
