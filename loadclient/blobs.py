"""What a run uploads: the hot blob, fresh miss blobs or --keys blobs, sized by --size."""

from __future__ import annotations

import math
import random
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from loadclient.targets import Blob, random_blob
from loadclient.upload import upload_all

_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> tuple[int, int]:
    """Parse_size reads `25000`, `1k`, `4m` or a range `1k..1m` (k/m/g: KiB/MiB/GiB)."""
    low, sep, high = text.strip().partition("..")
    sizes = [_bytes(part, text) for part in ((low, high) if sep else (low,))]
    if sizes[0] <= 0 or sizes[-1] < sizes[0]:
        raise ValueError(f"size must be positive and ranges low..high, got {text!r}")
    return sizes[0], sizes[-1]


def _bytes(part: str, text: str) -> int:
    m = _SIZE.fullmatch(part.strip())
    if m is None:
        raise ValueError(f"invalid size {text!r} (want e.g. 25000, 1k, 4m or 1k..1m)")
    return int(m.group(1)) * _UNIT[m.group(2).lower()]


@dataclass(frozen=True, slots=True)
class Sizes:
    """Sizes gives blob i its size: fixed, or log-uniform within low..high, from the seed."""

    low: int
    high: int
    seed: str

    def of(self, index: int) -> int:
        """Of is blob index's size in bytes."""
        if self.high <= self.low:
            return self.low
        u = random.Random(f"{self.seed}:size:{index}").random()
        size = math.exp(math.log(self.low) + u * (math.log(self.high + 1) - math.log(self.low)))
        return min(self.high, int(size))

    def blob(self, index: int) -> Blob:
        """Blob is the index-th random blob of the run, at its size."""
        return random_blob(self.of(index), self.seed, index)


def key_index(key: int) -> int:
    """Key_index is the blob index of key `key` (negative: never one of the fresh blobs)."""
    return -1 - key


class UploadProgress:
    """UploadProgress shows uploads on a stream: a bar on a terminal, else a line per 10 %."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream, self.done, self.bytes = total, stream, 0, 0
        self.tty = stream.isatty()
        self._lock = threading.Lock()
        self._shown = -1

    def __call__(self, blob: Blob) -> None:
        with self._lock:
            self.done += 1
            self.bytes += len(blob.data)
            step = self.done * 10 // self.total if self.total else 10
            if self.tty:
                filled = self.done * 30 // max(1, self.total)
                bar = "#" * filled + "-" * (30 - filled)
                self.stream.write(f"\ruploading [{bar}] {self.done}/{self.total} blobs, "
                                  f"{self.bytes / 1e6:.1f} MB")  # fmt: skip
                if self.done == self.total:
                    self.stream.write("\n")
            elif step != self._shown:
                self._shown = step
                self.stream.write(f"uploaded {self.done}/{self.total} blobs, "
                                  f"{self.bytes / 1e6:.1f} MB\n")  # fmt: skip
            self.stream.flush()


def upload_keys(
    cas_url: str,
    n: int,
    sizes: Sizes,
    timeout_s: float,
    threads: int,
    show: bool,
    token: str | None = None,
) -> list[str]:
    """Upload_keys uploads the n --keys blobs in parallel and returns their digests in order."""
    progress: Callable[[Blob], None] | None = UploadProgress(n) if show else None
    return upload_all(
        cas_url, n, lambda k: sizes.blob(key_index(k)), timeout_s, threads, progress, token
    )
